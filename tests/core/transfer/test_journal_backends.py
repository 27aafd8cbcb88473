"""The journal keys uploads by backend too (an upload id means nothing to another server), and opens a
journal written before that column existed."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from app.core.transfer.journal import Journal, UploadState

SCHEMA_1 = """
CREATE TABLE uploads (upload_id TEXT PRIMARY KEY, path TEXT NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, fingerprint TEXT NOT NULL, s3_key TEXT NOT NULL, part_size INTEGER NOT NULL,
    state TEXT NOT NULL, error TEXT, sha256 TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE parts (upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, etag TEXT NOT NULL,
    size INTEGER NOT NULL, checksum TEXT NOT NULL, recorded_at REAL NOT NULL, PRIMARY KEY (upload_id, part_number));
INSERT INTO uploads VALUES ('old', '/x.mp4', 1, 1, 'fp', 'k', 5242880, 'uploading', NULL, NULL, 1.0, 1.0);
PRAGMA user_version=1;
"""


def test_entries_are_found_per_backend(tmp_path: Path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(os.urandom(1000))
    with Journal.open(tmp_path / "j.sqlite3") as journal:
        journal.start(video, upload_id="a", s3_key="k1", part_size=5 << 20, backend="https://one.example")
        journal.start(video, upload_id="b", s3_key="k2", part_size=0, backend="embedded")
        assert journal.find(video, backend="https://one.example").upload_id == "a"
        assert journal.find(video, backend="embedded").upload_id == "b"
        assert journal.find(video, backend="https://two.example") is None
        assert journal.get("b").part_size == 0 and journal.get("a").backend == "https://one.example"


def test_a_schema_1_journal_is_upgraded_in_place(tmp_path: Path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_1)
    with Journal.open(path) as journal:
        entry = journal.get("old")
        assert entry.state is UploadState.UPLOADING and entry.backend == ""
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
