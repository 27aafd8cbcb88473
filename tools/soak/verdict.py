"""The verdict on a launch that has ended. It is a crash when the app exits non-zero or by a signal the
soak did not send, when its stderr or log folder holds "Fatal Python error", "Segmentation fault" or an
unhandled Python traceback, when a core file appears, or when it is still running QUIT_TIMEOUT_S after
Ctrl+Q (drive.py). A crashed launch keeps a screenshot, its stderr and its log folder."""

from __future__ import annotations

import re
import shutil
import signal
from pathlib import Path

from .launch import Launch
from .plan import RunResult

# What makes a launch a crash when it shows up in its stderr or log folder.
CRASH_PATTERNS = (
    re.compile(r"Fatal Python error"),
    re.compile(r"Segmentation fault"),
    re.compile(r"^Traceback \(most recent call last\)", re.M),
)
# In the log, an exception that reached sys.excepthook/threading.excepthook (app/gui/crash_dialog.py).
UNHANDLED_IN_LOG = re.compile(r" ERROR .*Unexpected error")
ERROR_LINE = re.compile(r"^\S+ \S+ ERROR ", re.M)
QT_WARNING = re.compile(r"^(QObject|QBasicTimer|QSocketNotifier|QThread|QWidget|QPixmap)\b.*$", re.M)


def judge(launch: Launch, result: RunResult) -> None:
    """Read the verdict off a launch that has ended (reaped): its exit, its stderr, its log, core files."""
    code = launch.process.returncode
    result.exit_code = code
    ended_by = result.done[-1] if result.done else ""
    expected = -signal.SIGKILL if ended_by.startswith("kill-9") else 0
    if not result.crashes:
        if not ended_by.startswith(("kill-9", "quit")):
            how = f"by signal {signal.Signals(-code).name}" if code < 0 else f"with exit code {code}"
            result.crashes.append(f"the app ended on its own {how}")
        elif code != expected:
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            result.crashes.append(f"the app ended by {how} after {ended_by}")
    stderr = (launch.run_dir / "stderr.txt").read_text("utf-8", "replace")
    log_text = launch.logs.text()
    # A traceback in the log is a crash when it reached the excepthook (below); one the app logged with its
    # error is counted among the ERROR lines instead.
    for where, text, patterns in (("stderr", stderr, CRASH_PATTERNS), ("log", log_text, CRASH_PATTERNS[:2])):
        for pattern in patterns:
            match = pattern.search(text)
            if match:
                line = text[match.start() :].splitlines()[0]
                result.crashes.append(f"{where}: {line[:160]}")
    if UNHANDLED_IN_LOG.search(log_text) and not any(c.startswith("log:") for c in result.crashes):
        result.crashes.append("log: an unhandled exception reached the excepthook")
    new_cores = set(launch.home.path.glob("core*")) - launch.cores_before
    if new_cores:
        result.crashes.append("core file: " + ", ".join(c.name for c in sorted(new_cores)))
    errors = ERROR_LINE.findall(log_text)
    if errors:
        result.notes.append(f"{len(errors)} ERROR line(s) in the log")
    warnings = QT_WARNING.findall(stderr)
    if warnings:
        result.notes.append(f"Qt warnings on stderr: {warnings[0][:120]}")


def keep_artefacts(launch: Launch, result: RunResult, shot: Path | None, *, keep_core: bool) -> int:
    """Copy the log folder next to stderr and the screenshot; keep the first core file (they are large).
    Returns how many core files were kept."""
    if launch.home.log_dir.exists():
        shutil.copytree(launch.home.log_dir, launch.run_dir / "log", dirs_exist_ok=True)
    kept = 0
    for core in sorted(set(launch.home.path.glob("core*")) - launch.cores_before):
        if keep_core and not kept:
            shutil.move(core, launch.run_dir / core.name)
            kept += 1
        else:
            core.unlink()
    result.artefacts = launch.run_dir
    if shot is None:
        result.notes.append("no screenshot (imagemagick's import is missing)")
    return kept
