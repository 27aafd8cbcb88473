"""A crash is never silent: the next launch shows "ReelDrop closed unexpectedly last time" and the report.

The first test runs the real app as a user does (its own process, `python -m app`) and kills it with a
fatal signal; the others drive the notice in this process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from app.core.credentials import MemoryCredentialStore
from app.core.last_run import MARKER_PREFIX, REPORT_PREFIX, CrashReport
from app.gui.logs import LOG_FILENAME
from app.gui.main import build_app
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _launch(home: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "REELDROP_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.Popen(
        [sys.executable, "-m", "app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _log(home: Path) -> str:
    path = home / "log" / LOG_FILENAME
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _running_marker(home: Path) -> list[Path]:
    return list((home / "log").glob(f"{MARKER_PREFIX}*.json")) if (home / "log").exists() else []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_the_real_app_that_crashed_says_so_at_its_next_launch(tmp_path):
    home = tmp_path / "home"
    first = _launch(home)
    try:
        wait_until(lambda: "ready" in _log(home) or "This computer" in _log(home), 60, 0.1, "the app to start")
        wait_until(lambda: _running_marker(home), 10, 0.05, "the app to mark itself running")
        first.send_signal(signal.SIGSEGV)  # what a crash in a C extension looks like from outside
        assert first.wait(timeout=30) == -signal.SIGSEGV
    finally:
        first.kill()
        first.wait(timeout=30)

    second = _launch(home)
    try:
        wait_until(lambda: "closed unexpectedly last time" in _log(home), 60, 0.1, "the notice in the log")
        reports = list((home / "log").glob(f"{REPORT_PREFIX}*.txt"))
        assert len(reports) == 1
        report = reports[0].read_text(encoding="utf-8")
        assert "Fatal Python error: Segmentation fault" in report
        assert str(reports[0]) in _log(home)  # the log names the report's path
        second.send_signal(signal.SIGTERM)  # a polite quit: it ends normally and leaves no marker
        assert second.wait(timeout=60) == 0
    finally:
        second.kill()
        _, stderr = second.communicate(timeout=30)
    assert b"Fatal Python error" not in stderr
    assert _running_marker(home) == []


def _crash(tmp_path: Path, trace: str) -> CrashReport:
    report = tmp_path / "crash-20261204-120000-4242.txt"
    crash = CrashReport(started_at=1_796_000_000.0, pid=4242, report_path=report, trace=trace)
    report.write_text(crash.text, encoding="utf-8")
    return crash


@pytest.fixture
def launch_after(qtbot, reeldrop_home):
    made = []

    def launch(crash: CrashReport | None):
        running = build_app(
            reeldrop_home, store=MemoryCredentialStore(), show_crash_dialogs=False, previous_crash=crash
        )
        made.append(running)
        return running

    yield launch
    for running in made:
        running.close()


def test_the_notice_names_the_report_and_copies_it(qtbot, tmp_path, launch_after):
    crash = _crash(tmp_path, "Fatal Python error: Segmentation fault\n\nThread 0x1 (most recent call first):\n  File x")
    running = launch_after(crash)
    notice = running.crash_notice
    assert notice is not None
    qtbot.waitUntil(notice.isVisible)
    assert "closed unexpectedly last time" in notice.message.text()
    assert str(crash.report_path) in notice.message.text()

    notice.copy_button.click()

    assert QApplication.clipboard().text() == crash.text
    assert "Segmentation fault" in QApplication.clipboard().text()
    notice.dismiss_button.click()
    assert not notice.isVisible()
    assert running.window.isVisible()  # the notice blocks nothing


def test_a_kill_from_outside_is_told_as_such(qtbot, tmp_path, launch_after):
    running = launch_after(_crash(tmp_path, ""))
    assert running.crash_notice is not None
    assert "stopped from outside" in running.crash_notice.message.text()


def test_no_notice_after_a_normal_quit(qtbot, launch_after):
    assert launch_after(None).crash_notice is None


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_polite_kill_while_the_window_is_still_being_built_ends_the_app(tmp_path):
    # The quit a signal asks for is queued for the event loop: asked before the loop runs, it used to be lost
    # and the app ran on (seen as a CI hang of 60 s).
    home = tmp_path / "home"
    app = _launch(home)
    try:
        wait_until(lambda: "starting (data in" in _log(home), 60, 0.01, "the app to begin building its window")
        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=60) == 0
    finally:
        app.kill()
        app.communicate(timeout=30)
    assert _running_marker(home) == []
