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
    item_id: str
    position: int
    source: str
    preset: str
    output_dir: str
    stage: str
    paused_stage: str | None = None
    size_before: int | None = None
    compressed_path: str | None = None
    compressed_size: int | None = None
    encoder: str | None = None
    upload_id: str | None = None
    job_id: str | None = None
    zip_path: str | None = None
    results_dir: str | None = None
    error: str | None = None
    error_type: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def stage_enum(self) -> Stage:
        return Stage(self.stage)


_COLUMNS = [f.name for f in fields(ItemRecord)]


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
                source=str(source),
                preset=preset,
                output_dir=str(output_dir),
                stage=stage.value,
                created_at=now,
                updated_at=now,
                **extra,  # type: ignore[arg-type]
            )
            values = [getattr(record, c) for c in _COLUMNS]
            self._db.execute(
                f"INSERT INTO items ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})", values
            )
        return record

    def update(self, item_id: str, **changes: object) -> ItemRecord:
        for column in ("stage", "paused_stage"):  # kept as their text in the journal
            value = changes.get(column)
            if isinstance(value, Stage):
                changes[column] = value.value
        changes["updated_at"] = time.time()
        unknown = set(changes) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"unknown item fields {sorted(unknown)}")
        with self._lock:
            assignments = ", ".join(f"{name} = ?" for name in changes)
            self._db.execute(f"UPDATE items SET {assignments} WHERE item_id = ?", [*changes.values(), item_id])
            row = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM items WHERE item_id = ?", (item_id,)).fetchone()
        if row is None:
            raise KeyError(item_id)
        return ItemRecord(*row)

    def get(self, item_id: str) -> ItemRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM items WHERE item_id = ?", (item_id,)).fetchone()
        return ItemRecord(*row) if row else None

    def all(self) -> list[ItemRecord]:
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM items ORDER BY position").fetchall()
        return [ItemRecord(*row) for row in rows]

    def remove(self, item_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM items WHERE item_id = ?", (item_id,))
