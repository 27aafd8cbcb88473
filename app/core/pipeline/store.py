"""The pipeline's own journal: every queued item and how far it got, in SQLite, durable across a crash.

The upload engine keeps its own part-level journal; this one records the stage boundaries (compressed
file, upload id, job id, results) so a relaunch continues each item at the stage it reached.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, fields
from pathlib import Path

from app.core.pipeline.model import Stage
from app.core.sqlite_schema import Schema, SchemaError, bring_up_to_date

# Version 1: the layout as it first shipped (files made before versioning have it). A new column is a step:
#   steps={2: ["ALTER TABLE items ADD COLUMN priority INTEGER NOT NULL DEFAULT 0"]}, and the same column
# in the CREATE below, which makes new files.
QUEUE_SCHEMA = Schema(
    what="the queue",
    create=[
        """
        CREATE TABLE IF NOT EXISTS items (
            item_id TEXT PRIMARY KEY,
            position INTEGER NOT NULL,
            source TEXT NOT NULL,
            preset TEXT NOT NULL,
            output_dir TEXT NOT NULL,
            stage TEXT NOT NULL,
            paused_stage TEXT,
            size_before INTEGER,
            compressed_path TEXT,
            compressed_size INTEGER,
            encoder TEXT,
            upload_id TEXT,
            job_id TEXT,
            zip_path TEXT,
            results_dir TEXT,
            error TEXT,
            error_type TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )
        """
    ],
)


@dataclass(frozen=True)
class ItemRecord:
    """One queued item as the journal holds it, typed: stages are Stages and paths are Paths here; the
    store turns them into text and back at its edge (the columns stay TEXT)."""

    item_id: str
    position: int
    source: Path
    preset: str
    output_dir: Path
    stage: Stage
    paused_stage: Stage | None = None
    size_before: int | None = None
    compressed_path: Path | None = None
    compressed_size: int | None = None
    encoder: str | None = None
    upload_id: str | None = None
    job_id: str | None = None
    zip_path: Path | None = None
    results_dir: Path | None = None
    error: str | None = None
    error_type: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0


_COLUMNS = [f.name for f in fields(ItemRecord)]
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM items"
_PATHS = frozenset({"source", "output_dir", "compressed_path", "zip_path", "results_dir"})
_STAGES = frozenset({"stage", "paused_stage"})


def _stored(value: object) -> object:
    """A field's value as its TEXT column holds it."""
    if isinstance(value, Stage):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value


def _record(row: tuple[object, ...]) -> ItemRecord:
    values = dict(zip(_COLUMNS, row, strict=True))
    for name in _PATHS | _STAGES:
        if values[name] is not None:
            values[name] = Path(str(values[name])) if name in _PATHS else Stage(str(values[name]))
    return ItemRecord(**values)  # type: ignore[arg-type]


class PipelineStore:
    """One connection behind a lock; every change is its own committed transaction (WAL, synchronous=FULL)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:  # before WAL mode is set, which rewrites the file's header: a refused file stays as it was
            bring_up_to_date(self._db, QUEUE_SCHEMA, path)
        except SchemaError:
            self._db.close()
            raise
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(
        self, source: Path, preset: str, output_dir: Path, stage: Stage = Stage.WAITING, **extra: object
    ) -> ItemRecord:
        now = time.time()
        with self._lock:
            position = self._db.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM items").fetchone()[0]
            record = ItemRecord(
                item_id=uuid.uuid4().hex[:12],
                position=position,
                source=source,
                preset=preset,
                output_dir=output_dir,
                stage=stage,
                created_at=now,
                updated_at=now,
                **extra,  # type: ignore[arg-type]
            )
            values = [_stored(getattr(record, c)) for c in _COLUMNS]
            self._db.execute(
                f"INSERT INTO items ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})", values
            )
        return record

    def update(self, item_id: str, **changes: object) -> ItemRecord:
        changes["updated_at"] = time.time()
        unknown = set(changes) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"unknown item fields {sorted(unknown)}")
        with self._lock:
            assignments = ", ".join(f"{name} = ?" for name in changes)
            values = [_stored(value) for value in changes.values()]
            self._db.execute(f"UPDATE items SET {assignments} WHERE item_id = ?", [*values, item_id])
            row = self._db.execute(f"{_SELECT} WHERE item_id = ?", (item_id,)).fetchone()
        if row is None:
            raise KeyError(item_id)
        return _record(row)

    def get(self, item_id: str) -> ItemRecord | None:
        with self._lock:
            row = self._db.execute(f"{_SELECT} WHERE item_id = ?", (item_id,)).fetchone()
        return _record(row) if row else None

    def all(self) -> list[ItemRecord]:
        with self._lock:
            rows = self._db.execute(f"{_SELECT} ORDER BY position").fetchall()
        return [_record(row) for row in rows]

    def remove(self, item_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM items WHERE item_id = ?", (item_id,))
