"""The server process caps glibc's malloc arenas, so its memory stays flat while gigabytes pass through
(bench/local_backend.py: 126 -> 153 MiB over 4 GiB without the cap, 126 -> 127 MiB with it)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.cli import REPO

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_stats")

# Eight threads churning 1 MiB blocks and small objects at once, as the server's upload threads do, then
# glibc's own account of its arenas (malloc_stats writes one "Arena N:" line per arena to stderr).
CHURN = """
import ctypes, sys, threading
from app.server.malloc_arenas import limit_malloc_arenas
if sys.argv[1] == "limited":
    assert limit_malloc_arenas()
def churn():
    for _ in range(300):
        blocks = [bytearray(1024 * 1024) for _ in range(4)]
        small = [bytes(200) for _ in range(2000)]
        del blocks, small
threads = [threading.Thread(target=churn) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
ctypes.CDLL("libc.so.6").malloc_stats()
"""


def arenas_after_churn(mode: str, **env: str) -> int:
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    environment.update(PYTHONPATH=str(REPO), **env)
    done = subprocess.run(
        [sys.executable, "-c", CHURN, mode], capture_output=True, text=True, env=environment, timeout=120, check=True
    )
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


def test_the_cap_holds_the_arenas_that_threads_would_otherwise_multiply() -> None:
    assert arenas_after_churn("unlimited") > 2, "without the cap the threads make arenas of their own"
    assert arenas_after_churn("limited") <= 2


def test_an_operators_malloc_arena_max_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.server.malloc_arenas import limit_malloc_arenas

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # glibc read it at start-up; we leave it alone
    assert limit_malloc_arenas() is False
