"""Run one child process and measure it the way the kernel sees it: wall time, user+sys CPU, peak RSS.

CPU and peak RSS come from the rusage of the client process (its own plus every descendant it waited for),
so a client that forks helpers is charged for them too; the bench's own polling and sampling is not.

Why not ``os.wait4`` straight from the bench: Linux carries the peak RSS of the *forking* process into the
child's ``ru_maxrss`` (fork copies the page tables, exec records their high-water mark), so every client
would report at least the bench's own ~60 MB. A small intermediate that forks the client instead keeps
that floor near its own size: GNU ``/usr/bin/time`` (~1 MB, 10 ms CPU resolution), or when it is missing a
bare ``python -S -I`` launcher (~9 MB).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# How often the parent checks whether the child has ended (and calls the tick callback). Small enough to
# keep wall-time error under 1% of a one-second run, large enough to cost the parent nothing noticeable.
POLL_SECONDS = 0.02
GNU_TIME = "/usr/bin/time"

# Fallback launcher: fork + exec the client, wait4 it, write "user sys maxrss_kib" like GNU time -f "%U %S %M".
_LAUNCHER = """
import os, sys
out, argv = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(out, "w") as f:
    f.write(f"{usage.ru_utime} {usage.ru_stime} {usage.ru_maxrss}\\n")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def rusage_launcher(out_path: Path) -> list[str]:
    """The command prefix that runs a client and writes its "user sys maxrss_kib" to ``out_path``."""
    if os.access(GNU_TIME, os.X_OK):
        return [GNU_TIME, "-f", "%U %S %M", "-o", str(out_path)]
    return [sys.executable, "-S", "-I", "-c", _LAUNCHER, str(out_path)]


def _read_rusage(path: Path) -> tuple[float, float, int] | None:
    """The last "user sys maxrss" line (GNU time puts "Command exited with non-zero status" above it)."""
    try:
        lines = path.read_text().strip().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        fields = line.split()
        try:
            if len(fields) == 3:
                return float(fields[0]), float(fields[1]), int(float(fields[2]))
        except ValueError:
            continue
    return None


@dataclass
class ChildRun:
    argv: list[str]
    returncode: int
    wall_seconds: float
    user_seconds: float
    sys_seconds: float
    max_rss_kib: int
    stdout: str
    stderr: str
    timed_out: bool

    @property
    def cpu_seconds(self) -> float:
        return self.user_seconds + self.sys_seconds

    def stderr_tail(self, limit: int = 800) -> str:
        text = self.stderr.strip()
        return text if len(text) <= limit else "…" + text[-limit:]


def _kill_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def run_measured(
    argv: Sequence[str],
    env: Mapping[str, str],
    timeout: float,
    log_dir: Path,
    label: str,
    on_tick: Callable[[], None] | None = None,
) -> ChildRun:
    """Run ``argv`` to completion (or kill it after ``timeout`` seconds) and return its figures.

    stdout/stderr go to files in ``log_dir`` (pipes could fill up and stall a chatty client).
    ``on_tick`` is called about every POLL_SECONDS while the child runs (e.g. to sample a link counter).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"{label}.stdout", log_dir / f"{label}.stderr"
    usage_path = log_dir / f"{label}.rusage"
    usage_path.unlink(missing_ok=True)
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.monotonic()
        # A session of its own: Ctrl-C in the terminal reaches only the bench, which then stops the child
        # in an orderly way, and a timeout can kill the child's whole process group.
        proc = subprocess.Popen(
            [*rusage_launcher(usage_path), *argv],
            env=dict(env),
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = started + timeout
        timed_out = False
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if on_tick is not None:
                    on_tick()
                if time.monotonic() > deadline:
                    timed_out = True
                    _kill_group(proc.pid, signal.SIGKILL)
                    # SIGKILL cannot be ignored: this blocking wait ends as soon as the kernel reaps it.
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(POLL_SECONDS)
        except BaseException:
            _kill_group(proc.pid, signal.SIGKILL)
            os.wait4(proc.pid, 0)
            proc.returncode = -9
            raise
        wall = time.monotonic() - started
        if on_tick is not None:
            on_tick()
    # wait4 reaped the launcher: tell Popen so that it never waits for a pid that may be reused.
    proc.returncode = os.waitstatus_to_exitcode(status)
    # The launcher's own figures (inflated by the fork floor) only stand in when the client was killed.
    user, system, max_rss = _read_rusage(usage_path) or (usage.ru_utime, usage.ru_stime, usage.ru_maxrss)
    return ChildRun(
        argv=list(argv),
        returncode=proc.returncode,
        wall_seconds=wall,
        user_seconds=user,
        sys_seconds=system,
        max_rss_kib=max_rss,  # kilobytes on Linux
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
        timed_out=timed_out,
    )
