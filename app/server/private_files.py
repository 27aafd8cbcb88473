"""The server's own files are its own: the data dir (database, work folders, the folder store) is created
0700 and the SQLite database 0600, whatever the umask, so no other account on the host reads a password
hash, a token hash or a user's upload."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .db import Database

log = logging.getLogger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) and make it readable by this account only (POSIX)."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    if sys.platform != "win32":
        os.chmod(path, PRIVATE_DIR)  # also when it existed (mkdir's mode is masked by the umask anyway)
    return path


def private_database_file(db: Database) -> None:
    """The SQLite file and its journals to 0600 (other databases keep their own files)."""
    name = db.engine.url.database if db.engine.url.get_backend_name() == "sqlite" else None
    if not name or name == ":memory:" or sys.platform == "win32":
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        file = Path(name + suffix)
        if file.exists():
            os.chmod(file, PRIVATE_FILE)
