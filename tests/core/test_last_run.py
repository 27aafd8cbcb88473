"""A run that did not quit is noticed at the next start, with faulthandler's trace when there is one.

Each case runs a real Python process that marks itself running through LastRun and then ends the way a
real app can end: it quits, it dies of a fatal signal, it is killed with SIGKILL, or it is still open.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.last_run import FATAL_TRACE_PREFIX, MARKER_PREFIX, REPORT_PREFIX, REPORTS_KEPT, LastRun
from tests.support.processes import python_child

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# The child marks itself running, says so on stdout, then does what argv[2] says.
CHILD = """
import os, signal, sys, time
from pathlib import Path
from app.core.last_run import LastRun
from tests.support.processes import python_child

def deep_inside_the_app():
    run = LastRun(Path(sys.argv[1]))
    run.begin()
    print("running", flush=True)
    if sys.argv[2] == "quit":
        run.end()
        return
    elif sys.argv[2] == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif sys.argv[2] == "abort":
        os.abort()
    time.sleep(60)  # "wait": until the test kills it

deep_inside_the_app()
"""


def _child(log_dir: Path, how: str) -> subprocess.Popen[str]:
    child = python_child(CHILD, str(log_dir), how)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "running"
    return child


def _ended(child: subprocess.Popen[str]) -> int:
    return child.wait(timeout=30)


def test_a_run_that_quit_leaves_nothing_behind(tmp_path):
    assert _ended(_child(tmp_path, "quit")) == 0
    assert list(tmp_path.iterdir()) == []
    assert LastRun(tmp_path).begin(catch_fatal=False) is None


@pytest.mark.parametrize(("how", "fatal"), [("segfault", "Segmentation fault"), ("abort", "Aborted")])
def test_a_fatal_crash_is_reported_with_the_trace_of_every_thread(tmp_path, how, fatal):
    assert _ended(_child(tmp_path, how)) < 0  # died of the signal

    crash = LastRun(tmp_path).begin(catch_fatal=False)

    assert crash is not None
    assert f"Fatal Python error: {fatal}" in crash.trace
    assert "deep_inside_the_app" in crash.trace  # the Python stack, not only the signal
    assert crash.report_path.name.startswith(REPORT_PREFIX)
    assert crash.report_path.read_text(encoding="utf-8").strip() == crash.text
    assert crash.text.startswith("ReelDrop closed unexpectedly")
    # Collected once: the next start does not report the same crash again.
    assert not list(tmp_path.glob(f"{FATAL_TRACE_PREFIX}*"))
    assert LastRun(tmp_path).begin(catch_fatal=False) is None


def test_a_kill_from_outside_is_reported_without_a_trace(tmp_path):
    child = _child(tmp_path, "wait")
    child.send_signal(signal.SIGKILL)
    assert _ended(child) == -signal.SIGKILL

    crash = LastRun(tmp_path).begin(catch_fatal=False)

    assert crash is not None and crash.pid == child.pid
    assert crash.trace == ""
    assert "stopped from outside" in crash.text


def test_another_open_instance_is_not_a_crash(tmp_path):
    child = _child(tmp_path, "wait")
    try:
        assert LastRun(tmp_path).begin(catch_fatal=False) is None
        assert (tmp_path / f"{MARKER_PREFIX}{child.pid}.json").exists()  # its marker is left alone
    finally:
        child.kill()
        _ended(child)
    assert LastRun(tmp_path).begin(catch_fatal=False) is not None  # once it is gone, it did crash


def test_a_marker_of_a_reused_pid_is_still_a_crash(tmp_path):
    """After a reboot the old pid may belong to a process that started later: that is not our app."""
    started_before_this_process = 1.0  # 1970: every running process started after it
    marker = tmp_path / f"{MARKER_PREFIX}{os.getppid()}.json"
    marker.write_text(json.dumps({"pid": os.getppid(), "started_at": started_before_this_process}))
    assert LastRun(tmp_path).begin(catch_fatal=False) is not None


@pytest.mark.parametrize("content", ["", '{"pid": ', "[]", '{"pid": "x", "started_at": 1}', "\x00\xff"])
def test_a_half_written_marker_is_a_crash_not_an_error(tmp_path, content):
    (tmp_path / f"{MARKER_PREFIX}999999999.json").write_text(content, encoding="utf-8", errors="surrogateescape")
    crash = LastRun(tmp_path).begin(catch_fatal=False)
    assert crash is not None and crash.trace == ""


def test_only_the_newest_reports_are_kept(tmp_path):
    for number in range(REPORTS_KEPT + 3):
        marker = tmp_path / f"{MARKER_PREFIX}{999_000_000 + number}.json"
        marker.write_text(json.dumps({"pid": 999_000_000 + number, "started_at": 1_000_000 + number * 60}))
        assert LastRun(tmp_path).begin(catch_fatal=False) is not None
    assert len(list(tmp_path.glob(f"{REPORT_PREFIX}*.txt"))) == REPORTS_KEPT
