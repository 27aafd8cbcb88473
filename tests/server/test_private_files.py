"""Issue 14 item 13: the server's data dir, folder store and database are its account's only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import folder_store_server

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_dir_store_and_database_are_private_whatever_the_umask(tmp_path: Path) -> None:
    data, storage = tmp_path / "data", tmp_path / "store"
    storage.mkdir(mode=0o755)
    storage.chmod(0o755)  # an existing, open folder is closed too
    old = os.umask(0o022)
    try:
        with folder_store_server(data, storage_dir=storage) as running:
            running.add_user()  # the database is written
            database = Path(running.services.db.engine.url.database or "")
    finally:
        os.umask(old)
    assert mode(data) == 0o700 and mode(storage) == 0o700
    assert database.is_file() and mode(database) == 0o600
    for journal in (Path(f"{database}-wal"), Path(f"{database}-shm")):
        assert not journal.exists() or mode(journal) & 0o077 == 0


def test_create_user_from_the_command_line_keeps_them_private(tmp_path: Path) -> None:
    data = tmp_path / "cli-data"
    command = [sys.executable, "-m", "app.server.cli", "--data-dir", str(data)]
    command += ["create-user", "ada", "--password-stdin"]
    done = subprocess.run(command, input="correct horse battery\n", text=True, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert mode(data) == 0o700
    assert all(mode(f) & 0o077 == 0 for f in data.glob("*.db*")), [(f, oct(mode(f))) for f in data.iterdir()]
