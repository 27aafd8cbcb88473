"""Did the last run of the app end the way it should? A marker file and faulthandler answer it.

At start-up `LastRun.begin()` looks for the marker the previous run left: a run that quit normally removed
its marker, so one still there (with a pid that is no longer running) means the app was killed, crashed
or lost power. faulthandler writes the Python traceback of every thread into `crash.txt` in the log folder
when the process dies of a fatal signal or a "Fatal Python error", so that file (if the run wrote into it)
is the report. The report is kept as `crash-<when>.txt` (the newest few), and the next launch tells the
user where it is. Qt-free: the window only shows what `begin()` returns.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

MARKER_PREFIX = "running-"  # running-<pid>.json: one per open instance, so two instances never mix up
FATAL_TRACE_PREFIX = "fatal-"  # fatal-<pid>.txt: where faulthandler writes if that instance dies
REPORT_PREFIX = "crash-"
REPORTS_KEPT = 5
REPORT_MAX_BYTES = 256 * 1024  # a trace of every thread is a few KB; a runaway file is not read whole


@dataclass(frozen=True)
class CrashReport:
    """What is known about a run that ended without quitting."""

    started_at: float  # epoch seconds the crashed run started
    pid: int
    report_path: Path  # the kept report (the trace, or a note that there was none)
    trace: str  # faulthandler's output; "" when the process was stopped from outside (kill -9, power)

    @property
    def text(self) -> str:
        """The report as the user copies it (for a bug report)."""
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started_at))
        head = f"ReelDrop closed unexpectedly (process {self.pid}, started {started})."
        if not self.trace:
            return head + "\nNo trace was recorded: it was stopped from outside (kill, power loss, the system)."
        return head + "\n\n" + self.trace


class LastRun:
    """Owns this run's marker and fatal-trace file in `log_dir`, and reads those of runs that died."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._marker = log_dir / f"{MARKER_PREFIX}{os.getpid()}.json"
        self._trace_path = log_dir / f"{FATAL_TRACE_PREFIX}{os.getpid()}.txt"
        self._trace_file: IO[str] | None = None

    def begin(self, *, catch_fatal: bool = True) -> CrashReport | None:
        """Collect what runs that died left, then mark this run as running. Returns the newest report of a
        run that did not quit normally. `catch_fatal` turns faulthandler on for this process (the real
        app; in-process tests keep pytest's own)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        crashes = [crash for marker in self.log_dir.glob(f"{MARKER_PREFIX}*.json") if (crash := self._dead(marker))]
        self._marker.write_text(json.dumps({"pid": os.getpid(), "started_at": time.time()}), encoding="utf-8")
        if catch_fatal:
            # faulthandler writes to the file's descriptor directly, at the moment of the crash.
            self._trace_file = self._trace_path.open("w", encoding="utf-8")
            faulthandler.enable(self._trace_file, all_threads=True)
        return max(crashes, key=lambda crash: crash.started_at, default=None)

    def end(self) -> None:
        """This run is quitting normally: no marker, no empty trace file. Safe to call twice."""
        if self._trace_file is not None:
            faulthandler.disable()
            self._trace_file.close()
            self._trace_file = None
            with contextlib.suppress(OSError):
                if self._trace_path.stat().st_size == 0:
                    self._trace_path.unlink()
        self._marker.unlink(missing_ok=True)

    def _dead(self, marker: Path) -> CrashReport | None:
        """The report of the run that left `marker`, if that run is over; None while it is still open."""
        try:
            content = json.loads(marker.read_text(encoding="utf-8"))
            pid, started_at = int(content["pid"]), float(content["started_at"])
        except FileNotFoundError:
            return None  # that run just quit
        except (OSError, ValueError, KeyError, TypeError):  # half-written by a run that died writing it
            pid, started_at = _pid_in_name(marker), _mtime(marker)
        if pid == os.getpid() or _is_running(pid, started_at):
            return None
        trace_path = self.log_dir / f"{FATAL_TRACE_PREFIX}{pid}.txt"
        report = self._keep_report(started_at, pid, _read_trace(trace_path))
        trace_path.unlink(missing_ok=True)
        marker.unlink(missing_ok=True)
        return report

    def _keep_report(self, started_at: float, pid: int, trace: str) -> CrashReport:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started_at))
        path = self.log_dir / f"{REPORT_PREFIX}{stamp}-{pid}.txt"
        report = CrashReport(started_at, pid, path, trace)
        path.write_text(report.text + "\n", encoding="utf-8")
        reports = sorted(self.log_dir.glob(f"{REPORT_PREFIX}*.txt"), key=_mtime)
        for old in reports[:-REPORTS_KEPT]:
            old.unlink(missing_ok=True)
        return report


def _pid_in_name(marker: Path) -> int:
    digits = marker.stem.removeprefix(MARKER_PREFIX)
    return int(digits) if digits.isdigit() else 0


def _read_trace(path: Path) -> str:
    try:
        with path.open("rb") as file:
            return file.read(REPORT_MAX_BYTES).decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


def _is_running(pid: int, started_at: float) -> bool:
    """Is the run that wrote the marker still going? Its pid alone is not enough: after a reboot or a
    while the number belongs to some other process, so the process must also have started by then."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= started_at + 1.0
    except psutil.Error:
        return False
