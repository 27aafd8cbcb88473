"""Versioned SQLite files of the client (the queue, the upload journal): each opening brings a file up to date.

A file records its schema version in SQLite's ``user_version``. Opening one made by an earlier release runs
the steps from its version to ours in one transaction (a crash halfway leaves it as it was, and the next
opening tries again), so a new column never costs a user their queue. A file written by a newer release is
refused with a sentence naming it, and left untouched: an older app must not guess at a layout it does not
know. A file without a version but with tables predates versioning: it has version 1.

Why not Alembic here: these are single-user files with a handful of columns, opened by the app itself; a
step is one or two SQL statements, and the runner below is all the machinery they need.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

UNVERSIONED = 1  # the version of a file that has tables but no user_version (made before versioning)


class SchemaError(RuntimeError):
    """The file cannot be brought to this release's schema; the message names the file and why."""


@dataclass(frozen=True)
class Schema:
    what: str  # for messages: "the queue", "the upload journal"
    create: Sequence[str]  # the current layout, each statement IF NOT EXISTS: a new file, new tables
    steps: Mapping[int, Sequence[str]] = field(default_factory=dict)  # version -> what brings version-1 to it

    @property
    def version(self) -> int:
        return max([UNVERSIONED, *self.steps])


def bring_up_to_date(connection: sqlite3.Connection, schema: Schema, path: Path) -> int:
    """Migrate the file behind ``connection`` (autocommit mode) to ``schema``; the version it had before."""
    found = int(connection.execute("PRAGMA user_version").fetchone()[0])
    if found > schema.version:
        raise SchemaError(
            f"{path} was written by a newer ReelDrop ({schema.what}, version {found}; this one reads up to "
            f"{schema.version}). Update ReelDrop to use it; it was left as it is."
        )
    has_tables = connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0] > 0
    current = found or (UNVERSIONED if has_tables else 0)
    if found == schema.version:
        return found
    connection.execute("BEGIN IMMEDIATE")
    try:
        if current:  # an existing file: its own steps first, then whatever new tables the layout has
            for version in range(current + 1, schema.version + 1):
                for statement in schema.steps.get(version, ()):
                    connection.execute(statement)
        for statement in schema.create:
            connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {schema.version:d}")
        connection.execute("COMMIT")
    except sqlite3.Error as error:
        connection.execute("ROLLBACK")
        message = f"{path}: {schema.what} could not be brought up to date ({error}); it was left as it is"
        raise SchemaError(message) from error
    return found
