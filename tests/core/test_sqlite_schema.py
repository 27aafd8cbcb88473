"""Issue 16 item 8: the client's own SQLite files have versions (app/core/sqlite_schema.py).

The queue ran only CREATE TABLE IF NOT EXISTS: the first new column would have broken every user's queue.
Now a file made by an earlier release is brought up to date in one transaction when it is opened, a failing
step leaves it exactly as it was, and one written by a newer release is refused by name and not touched.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.core.pipeline.model import Stage
from app.core.pipeline.store import QUEUE_SCHEMA, PipelineStore
from app.core.sqlite_schema import Schema, SchemaError, bring_up_to_date
from app.core.transfer.journal import JOURNAL_SCHEMA, Journal, JournalError

# The queue as releases before versioning wrote it: the same table, no user_version.
UNVERSIONED_QUEUE = """
CREATE TABLE items (item_id TEXT PRIMARY KEY, position INTEGER NOT NULL, source TEXT NOT NULL,
    preset TEXT NOT NULL, output_dir TEXT NOT NULL, stage TEXT NOT NULL, paused_stage TEXT, size_before INTEGER,
    compressed_path TEXT, compressed_size INTEGER, encoder TEXT, upload_id TEXT, job_id TEXT, zip_path TEXT,
    results_dir TEXT, error TEXT, error_type TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL);
INSERT INTO items VALUES ('a1b2c3d4e5f6', 1, '/videos/clip.mp4', '720p', '/out', 'uploading', NULL, 1000,
    '/cache/work/a1b2c3d4e5f6.mp4', 400, 'libx264', 'up-1', NULL, NULL, NULL, NULL, NULL, 1.0, 2.0);
"""


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def test_a_new_queue_records_its_version(tmp_path: Path) -> None:
    store = PipelineStore(tmp_path / "queue.sqlite3")
    store.add(Path("/videos/new.mp4"), "720p", Path("/out"))
    store.close()
    assert user_version(tmp_path / "queue.sqlite3") == QUEUE_SCHEMA.version == 1


def test_a_queue_from_before_versioning_keeps_every_item(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(UNVERSIONED_QUEUE)
    store = PipelineStore(path)
    (item,) = store.all()
    assert (item.item_id, item.stage, item.upload_id, item.compressed_size) == (
        "a1b2c3d4e5f6",
        Stage.UPLOADING,
        "up-1",
        400,
    )
    store.close()
    assert user_version(path) == QUEUE_SCHEMA.version


def test_a_queue_from_a_newer_release_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(UNVERSIONED_QUEUE + "PRAGMA user_version=7;")
    before = path.read_bytes()
    with pytest.raises(SchemaError) as refused:
        PipelineStore(path)
    assert str(path) in str(refused.value) and "newer ReelDrop" in str(refused.value)
    assert "version 7" in str(refused.value) and path.read_bytes() == before


# A later release of a file: version 2 added a column, version 3 a table. The runner is what any such release
# will use; here it runs real steps against real files.
LATER = Schema(
    what="the test file",
    create=[
        "CREATE TABLE IF NOT EXISTS items (item_id TEXT PRIMARY KEY, priority INTEGER NOT NULL DEFAULT 0)",
        "CREATE TABLE IF NOT EXISTS notes (item_id TEXT NOT NULL, text TEXT NOT NULL)",
    ],
    steps={2: ["ALTER TABLE items ADD COLUMN priority INTEGER NOT NULL DEFAULT 0"], 3: []},
)


def open_autocommit(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_an_older_file_gets_each_later_step_once(tmp_path: Path) -> None:
    path = tmp_path / "file.sqlite3"
    with open_autocommit(path) as db:
        db.execute("CREATE TABLE items (item_id TEXT PRIMARY KEY)")
        db.execute("INSERT INTO items VALUES ('kept')")
        db.execute("PRAGMA user_version = 1")
    db = open_autocommit(path)
    assert bring_up_to_date(db, LATER, path) == 1
    assert db.execute("SELECT item_id, priority FROM items").fetchall() == [("kept", 0)]
    db.execute("INSERT INTO notes VALUES ('kept', 'the new table is there')")
    assert bring_up_to_date(db, LATER, path) == 3  # already up to date: no step runs again
    db.close()
    assert user_version(path) == 3


def test_a_step_that_fails_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "file.sqlite3"
    with open_autocommit(path) as db:
        db.execute("CREATE TABLE items (item_id TEXT PRIMARY KEY, priority INTEGER)")  # the column is there
        db.execute("PRAGMA user_version = 1")
    db = open_autocommit(path)
    with pytest.raises(SchemaError) as failed:
        bring_up_to_date(db, LATER, path)  # step 2 adds a column the file already has
    assert str(path) in str(failed.value) and "left as it is" in str(failed.value)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    assert tables == {"items"} and user_version(path) == 1  # no notes table, no new version: all or nothing


def test_an_upload_journal_from_a_newer_release_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    Journal.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {JOURNAL_SCHEMA.version + 1}")
    before = path.read_bytes()
    with pytest.raises(JournalError) as refused:
        Journal.open(path)
    assert str(path) in str(refused.value) and "newer ReelDrop" in str(refused.value)
    assert path.read_bytes() == before
