"""SQLite journal of multipart uploads, so a crash, a quit or a SIGKILL resumes instead of restarting.

Durability: WAL mode with ``synchronous=FULL`` and one transaction per recorded part, so once
``record_part`` returns, that part survives a killed process (and a power cut). Threads share one connection
behind a lock: writes are tiny and rare (one per part of ≥ 5 MiB), so a lock costs nothing and keeps the
code obvious; ``busy_timeout`` covers a second process opening the same file.

A file is recognised by its resolved path; ``JournalEntry.matches`` then checks that it is still the same
content (size, mtime_ns and a sampled BLAKE2 fingerprint). The engine should also compare each finished
part's checksum while it re-reads the file, which catches an edit the sampling missed.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from app.core.sqlite_schema import Schema, SchemaError, bring_up_to_date
from app.core.transfer.fingerprint import FINGERPRINT_BLOCK, fingerprint, normalise_path

log = logging.getLogger(__name__)

__all__ = [
    "FINGERPRINT_BLOCK",
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalPart",
    "UploadState",
    "fingerprint",
    "normalise_path",
]

# Version 1 had no backend column (its entries belong to "any backend", ""); version 2 adds it.
JOURNAL_SCHEMA = Schema(
    what="the upload journal",
    create=[
        """
        CREATE TABLE IF NOT EXISTS uploads (
            upload_id   TEXT PRIMARY KEY,
            path        TEXT NOT NULL,
            size        INTEGER NOT NULL,
            mtime_ns    INTEGER NOT NULL,
            fingerprint TEXT NOT NULL,
            s3_key      TEXT NOT NULL,
            part_size   INTEGER NOT NULL,
            state       TEXT NOT NULL,
            error       TEXT,
            sha256      TEXT,
            created_at  REAL NOT NULL,
            updated_at  REAL NOT NULL,
            backend     TEXT NOT NULL DEFAULT ''
        )
        """,
        """
        CREATE INDEX IF NOT EXISTS uploads_by_path ON uploads (path, created_at)
        """,
        """
        CREATE TABLE IF NOT EXISTS parts (
            upload_id   TEXT NOT NULL REFERENCES uploads (upload_id) ON DELETE CASCADE,
            part_number INTEGER NOT NULL,
            etag        TEXT NOT NULL,
            size        INTEGER NOT NULL,
            checksum    TEXT NOT NULL,
            recorded_at REAL NOT NULL,
            PRIMARY KEY (upload_id, part_number)
        )
        """,
    ],
    steps={2: ["ALTER TABLE uploads ADD COLUMN backend TEXT NOT NULL DEFAULT ''"]},
)
SCHEMA_VERSION = JOURNAL_SCHEMA.version


class JournalError(RuntimeError):
    pass


class UploadState(StrEnum):
    UPLOADING = "uploading"
    COMPLETED = "completed"
    ABORTED = "aborted"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class JournalPart:
    number: int
    etag: str
    size: int
    checksum: str
    recorded_at: float


@dataclass(frozen=True, slots=True)
class JournalEntry:
    upload_id: str
    path: str
    size: int
    mtime_ns: int
    fingerprint: str
    s3_key: str
    part_size: int
    state: UploadState
    error: str | None
    sha256: str | None
    created_at: float
    updated_at: float
    parts: tuple[JournalPart, ...]
    # Which backend holds the upload (its URL, or "embedded"): an upload id means nothing to another server.
    backend: str = ""

    @property
    def finished_part_numbers(self) -> frozenset[int]:
        return frozenset(part.number for part in self.parts)

    @property
    def bytes_done(self) -> int:
        return sum(part.size for part in self.parts)

    def part(self, number: int) -> JournalPart | None:
        return next((part for part in self.parts if part.number == number), None)

    def matches(self, path: str | os.PathLike[str] | None = None) -> bool:
        """True if the file (default: the journaled path) still has this entry's size, mtime and
        fingerprint; False if it changed, vanished or cannot be read."""
        target = self.path if path is None else path
        try:
            stat = os.stat(target)
            if stat.st_size != self.size or stat.st_mtime_ns != self.mtime_ns:
                return False
            return fingerprint(target) == self.fingerprint
        except OSError as error:
            log.info("journaled file %s cannot be checked: %s", target, error)
            return False


class Journal:
    """Thread-safe journal; open with ``Journal.open(path)`` and ``close()`` (or use ``with``)."""

    def __init__(self, connection: sqlite3.Connection, path: Path, now: Callable[[], float]) -> None:
        self._db = connection
        self._lock = threading.RLock()
        self._now = now
        self.path = path

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, now: Callable[[], float] = time.time) -> Journal:
        db_path = Path(path)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False, timeout=10)
        try:
            bring_up_to_date(connection, JOURNAL_SCHEMA, db_path)  # first: a refused file keeps its header
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
        except SchemaError as error:
            connection.close()
            raise JournalError(str(error)) from error
        except sqlite3.Error as error:
            connection.close()
            raise JournalError(f"cannot open upload journal {db_path}: {error}") from error
        return cls(connection, db_path, now)

    @contextmanager
    def _write(self) -> Iterator[None]:
        # Autocommit connection + explicit BEGIN IMMEDIATE: each call is one atomic, durable transaction.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(
        self,
        path: str | os.PathLike[str],
        *,
        upload_id: str,
        s3_key: str,
        part_size: int,
        backend: str = "",
    ) -> JournalEntry:
        """Journal a new upload of ``path``, taking its size, mtime and fingerprint now. ``part_size`` 0
        marks a single presigned POST (nothing to resume part by part, but listed and cleaned up)."""
        real_path = normalise_path(path)
        stat = os.stat(real_path)
        return self._insert_upload(
            upload_id, real_path, (stat.st_size, stat.st_mtime_ns, fingerprint(real_path)), s3_key, part_size, backend
        )

    def start_growing(
        self, path: str | os.PathLike[str], *, upload_id: str, s3_key: str, part_size: int, backend: str = ""
    ) -> JournalEntry:
        """Journal an upload of a file that is still being written. Until ``seal`` records the finished
        file, the entry matches no file: a crash before then leaves an upload the next run aborts (the
        writer starts over and writes other bytes), never one it resumes."""
        return self._insert_upload(upload_id, normalise_path(path), (-1, 0, ""), s3_key, part_size, backend)

    def seal(self, upload_id: str) -> None:
        """The growing file is finished: take its size, mtime and fingerprint now, so it resumes like any."""
        entry = self.get(upload_id)
        if entry is None:
            raise JournalError(f"upload {upload_id} is not in the journal")
        stat = os.stat(entry.path)
        print_ = fingerprint(entry.path)
        with self._write():
            self._db.execute(
                "UPDATE uploads SET size = ?, mtime_ns = ?, fingerprint = ?, updated_at = ? WHERE upload_id = ?",
                (stat.st_size, stat.st_mtime_ns, print_, self._now(), upload_id),
            )

    def _insert_upload(
        self,
        upload_id: str,
        real_path: str,
        file_state: tuple[int, int, str],
        s3_key: str,
        part_size: int,
        backend: str,
    ) -> JournalEntry:
        size, mtime_ns, print_ = file_state
        now = self._now()
        try:
            with self._write():
                self._db.execute(
                    "INSERT INTO uploads (upload_id, path, size, mtime_ns, fingerprint, s3_key, part_size,"
                    " state, created_at, updated_at, backend) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (upload_id, real_path, size, mtime_ns, print_, s3_key, part_size,
                     UploadState.UPLOADING.value, now, now, backend),
                )  # fmt: skip
        except sqlite3.IntegrityError as error:
            raise JournalError(f"upload {upload_id} is already in the journal") from error
        entry = self.get(upload_id)
        assert entry is not None
        return entry

    def record_part(self, upload_id: str, part_number: int, *, etag: str, size: int, checksum: str) -> None:
        """Durably note that S3 holds ``part_number`` (committed before this returns)."""
        now = self._now()
        with self._write():
            state = self._state(upload_id)
            if state is not UploadState.UPLOADING:
                raise JournalError(f"upload {upload_id} is {state.value}; cannot record part {part_number}")
            self._db.execute(
                "INSERT OR REPLACE INTO parts (upload_id, part_number, etag, size, checksum, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (upload_id, part_number, etag, size, checksum, now),
            )
            self._db.execute("UPDATE uploads SET updated_at = ? WHERE upload_id = ?", (now, upload_id))

    def forget_parts(self, upload_id: str, part_numbers: set[int] | frozenset[int]) -> None:
        """Drop parts S3 no longer lists (e.g. after ListParts disagrees), so they are sent again."""
        with self._write():
            self._db.executemany(
                "DELETE FROM parts WHERE upload_id = ? AND part_number = ?",
                [(upload_id, number) for number in part_numbers],
            )

    def mark_completed(self, upload_id: str, *, sha256: str | None = None) -> None:
        self._set_state(upload_id, UploadState.COMPLETED, sha256=sha256)

    def mark_aborted(self, upload_id: str) -> None:
        self._set_state(upload_id, UploadState.ABORTED)

    def mark_failed(self, upload_id: str, error: str) -> None:
        self._set_state(upload_id, UploadState.FAILED, error=error)

    def get(self, upload_id: str) -> JournalEntry | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone()
            return None if row is None else self._entry(row)

    def find(
        self, path: str | os.PathLike[str], *, state: UploadState | None = None, backend: str | None = None
    ) -> JournalEntry | None:
        """The newest entry for ``path`` (optionally only in ``state``, only on ``backend``), or None."""
        query = "SELECT * FROM uploads WHERE path = ?"
        args: list[object] = [normalise_path(path)]
        if state is not None:
            query += " AND state = ?"
            args.append(UploadState(state).value)
        if backend is not None:
            query += " AND backend = ?"
            args.append(backend)
        with self._lock:
            row = self._db.execute(query + " ORDER BY created_at DESC, rowid DESC LIMIT 1", args).fetchone()
            return None if row is None else self._entry(row)

    def list(self, *, state: UploadState | None = None) -> list[JournalEntry]:
        """All entries, newest first (optionally only those in ``state``)."""
        query, args = "SELECT * FROM uploads", []
        if state is not None:
            query, args = query + " WHERE state = ?", [UploadState(state).value]
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created_at DESC, rowid DESC", args).fetchall()
            return [self._entry(row) for row in rows]

    def delete(self, upload_id: str) -> None:
        with self._write():
            self._db.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))

    def prune(self, *, older_than: float) -> int:
        """Delete finished (not uploading) entries last updated before ``older_than``; returns how many."""
        with self._write():
            cursor = self._db.execute(
                "DELETE FROM uploads WHERE state != ? AND updated_at < ?",
                (UploadState.UPLOADING.value, older_than),
            )
            return cursor.rowcount

    def _state(self, upload_id: str) -> UploadState:
        row = self._db.execute("SELECT state FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone()
        if row is None:
            raise JournalError(f"upload {upload_id} is not in the journal")
        return UploadState(row[0])

    def _set_state(
        self, upload_id: str, state: UploadState, *, error: str | None = None, sha256: str | None = None
    ) -> None:
        with self._write():
            self._state(upload_id)
            self._db.execute(
                "UPDATE uploads SET state = ?, error = ?, sha256 = COALESCE(?, sha256), updated_at = ?"
                " WHERE upload_id = ?",
                (state.value, error, sha256, self._now(), upload_id),
            )

    def _entry(self, row: tuple[Any, ...]) -> JournalEntry:
        (
            upload_id,
            path,
            size,
            mtime_ns,
            print_,
            s3_key,
            part_size,
            state,
            error,
            sha256,
            created,
            updated,
            backend,
        ) = row
        parts = tuple(
            JournalPart(*part)
            for part in self._db.execute(
                "SELECT part_number, etag, size, checksum, recorded_at FROM parts"
                " WHERE upload_id = ? ORDER BY part_number",
                (upload_id,),
            )
        )
        return JournalEntry(
            upload_id=upload_id,
            path=path,
            size=size,
            mtime_ns=mtime_ns,
            fingerprint=print_,
            s3_key=s3_key,
            part_size=part_size,
            state=UploadState(state),
            error=error,
            sha256=sha256,
            created_at=created,
            updated_at=updated,
            parts=parts,
            backend=backend,
        )
