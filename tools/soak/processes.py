"""The programs the soak runs and how it runs them: the tools it needs on PATH, a bounded wait, a
process started with its output in a log and stopped (by its pid) when done, and the members of a
process group read from /proc (what a killed app left running). SoakError is the soak failing to set
up, never a verdict on the app."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

REQUIRED_TOOLS = ("Xvfb", "openbox", "xdotool", "xprop", "ffmpeg")


class SoakError(RuntimeError):
    """The soak itself could not set up (no Xvfb, the server did not start...): not a verdict on the app."""


def missing_tools() -> list[str]:
    return [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Terminate one process the soak started (by its pid), then kill it if it does not go."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


@contextmanager
def started(argv: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
    try:
        yield process
    finally:
        stop_process(process)


def process_group(pgid: int) -> list[tuple[int, str]]:
    """(pid, name) of every process in a process group, read from /proc (Linux)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError):
            stat = (entry / "stat").read_text()
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append((int(entry.name), name))
    return members
