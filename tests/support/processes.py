"""Look at real processes from a test (psutil): find a program's children, wait for them to end."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil

from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
# A killed parent's children must end at once (the kernel's signal, or a watchdog's 0.5-1 s poll); this
# only bounds the wait on a busy machine. The work they were doing would have taken minutes.
ORPHANS_GONE_WITHIN_S = 10.0


def ended(process: psutil.Process) -> bool:
    """Gone, or a zombie (it has ended; only its exit status is left for whoever adopted it)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def descendants(pid: int, matching: Callable[[psutil.Process], bool] = lambda _p: True) -> list[psutil.Process]:
    try:
        found = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [p for p in found if not ended(p) and _safely(matching, p)]


def is_ffmpeg(process: psutil.Process) -> bool:
    argv = command_line(process)
    return bool(argv) and Path(argv[0]).name.startswith("ffmpeg")


def is_ffmpeg_writing(output: Path) -> Callable[[psutil.Process], bool]:
    """An ffmpeg whose command names ``output`` (not the app's short ``ffmpeg -version`` probes)."""
    return lambda process: is_ffmpeg(process) and str(output) in command_line(process)


def is_python_spawn_child(process: psutil.Process) -> bool:
    """A multiprocessing "spawn" child, as the built-in server runs (``--multiprocessing-fork``)."""
    return "--multiprocessing-fork" in command_line(process)


def wait_all_ended(processes: Iterable[psutil.Process], what: str, timeout: float = ORPHANS_GONE_WITHIN_S) -> None:
    processes = list(processes)

    def all_ended() -> bool:
        return all(ended(p) for p in processes)

    try:
        wait_until(all_ended, timeout=timeout, interval=0.05, what=what)
    except AssertionError:
        left = [f"{p.pid} {' '.join(command_line(p))[:160]}" for p in processes if not ended(p)]
        kill_all(processes)  # leave nothing behind for the next test
        raise AssertionError(f"still running {timeout:g} s after their parent was killed: {left}") from None


def kill_all(processes: Iterable[psutil.Process]) -> None:
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


def python_child(code: str, *args: str) -> subprocess.Popen[str]:
    """``python -c code args…`` with the repository importable, its stdout piped to the test."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, env=env)


def kill_hard(process: subprocess.Popen[str]) -> None:
    """``kill -9``: no cleanup code of the process runs."""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def _safely(matching: Callable[[psutil.Process], bool], process: psutil.Process) -> bool:
    try:
        return matching(process)
    except (psutil.NoSuchProcess, psutil.AccessDenied, IndexError):
        return False


def command_line(process: psutil.Process) -> list[str]:
    """Its argv; empty once it has ended (a zombie has none)."""
    try:
        return process.cmdline()
    except psutil.Error:
        return []
