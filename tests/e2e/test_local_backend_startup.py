"""What the built-in server's child imports at its start: not the Redis and PostgreSQL drivers a developer's
environment may hold (huey imports both eagerly; "This computer" uses SQLite for its queue and database)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from app.local_backend import _hide_unused_drivers
    _hide_unused_drivers()
    from app.server.app import build_services, close_services
    from app.server.config import load_config
    config = load_config(env={"REELDROP_STORAGE_SECRET": "s" * 43}, data_dir=Path(sys.argv[1]))
    services = build_services(config)
    try:
        import huey.storage
        loaded = [name for name in ("redis", "psycopg", "psycopg2") if sys.modules.get(name) is not None]
        # Imported where they are used, not at the start: subtitles (0.1 s) and the webhook's HTTP client.
        later = [name for name in ("pysubs2", "requests") if name in sys.modules]
        print(json.dumps({"loaded": loaded, "huey_redis": huey.storage.Redis is not None, "later": later}))
    finally:
        close_services(services)
    """
)


def test_the_built_in_server_starts_without_the_drivers_it_never_uses(tmp_path: Path) -> None:
    pytest.importorskip("redis", reason="without redis installed there is nothing to keep out")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "data")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"loaded": [], "huey_redis": False, "later": []}


def test_a_server_for_many_machines_still_has_its_drivers() -> None:
    # The hiding is the built-in child's alone: the importing process of `reeldrop-server` is untouched.
    pytest.importorskip("redis", reason="the Redis driver is not installed here")
    import huey.storage

    assert huey.storage.Redis is not None


def _nice_of(stat: str) -> int:
    # /proc/<pid>/task/<tid>/stat: "pid (comm) state ..." with nice the 19th field; comm may hold spaces.
    return int(stat.rsplit(")", 1)[1].split()[16])


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads each thread's nice value from /proc")
def test_every_thread_of_the_built_in_server_runs_below_the_window_once_it_is_up(tmp_path: Path) -> None:
    import os

    from app.local_backend import SERVER_NICENESS, start_local_backend

    backend = start_local_backend(tmp_path / "server")
    try:
        pid = backend.pid
        assert pid is not None
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        threads = {task.name: _nice_of((task / "stat").read_text()) for task in Path(f"/proc/{pid}/task").iterdir()}
        assert len(threads) > 3, threads  # the main thread, uvicorn's, the worker's: all of them
        assert all(nice >= ours + SERVER_NICENESS for nice in threads.values()), threads
    finally:
        backend.stop()
