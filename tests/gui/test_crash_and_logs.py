"""Errors in plain words (never a traceback in a dialog), the rotating log file, the Log tab."""

from __future__ import annotations

import logging
import sys
import threading

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from app.core.api import AuthRequired, BackendUnavailable
from app.core.media.errors import NotMediaFile
from app.gui.crash_dialog import CrashReporter
from app.gui.log_view import LogView
from app.gui.logs import LOG_FILENAME, setup_logging
from app.gui.plain_errors import plain_words


@pytest.fixture
def app_logging(reeldrop_home):
    running = setup_logging(reeldrop_home.log)
    yield running
    running.stop()


def _raise(error: BaseException):
    try:
        raise error
    except BaseException:
        return sys.exc_info()


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (AuthRequired(401, "auth", "bad token"), "did not accept the sign-in"),
        (BackendUnavailable(0, "backend_unreachable", "The ReelDrop server at http://x cannot be reached."),
         "cannot be reached. Check the address"),
        (NotMediaFile("contains no audio or video stream", "/v/a.txt"), "/v/a.txt: contains no audio or video stream"),
        (PermissionError(13, "Permission denied", "/out"), "not allowed to use /out"),
        (FileNotFoundError(2, "No such file", "/v/gone.mp4"), "/v/gone.mp4 is no longer there"),
        (KeyError("x"), "Something unexpected went wrong (KeyError)."),
    ],
)  # fmt: skip
def test_plain_words(error, words):
    assert words in plain_words(error)


def test_unexpected_error_is_logged_with_traceback_and_shown_without(qtbot, app_logging, reeldrop_home):
    reporter = CrashReporter(reeldrop_home.log)
    reporter.install()
    try:
        assert sys.excepthook == reporter.handle
        sys.excepthook(*_raise(ZeroDivisionError("division by zero in the bowels")))
        # The dialog comes up on the main thread, asynchronously; find it, read it, close it.
        qtbot.waitUntil(
            lambda: any(isinstance(w, QMessageBox) and w.isVisible() for w in QApplication.topLevelWidgets())
        )
        box = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible())
        shown = " ".join([box.text(), box.informativeText(), box.detailedText()])
        assert "Something unexpected went wrong (ZeroDivisionError)." in shown
        assert "Traceback" not in shown and "bowels" not in shown and 'File "' not in shown
        assert [b.text() for b in box.buttons()].count("Open log folder") == 1
        box.done(0)
        qtbot.waitUntil(lambda: not box.isVisible())
    finally:
        reporter.uninstall()
    assert sys.excepthook is not reporter.handle
    app_logging.stop()  # flush the writer thread
    text = (reeldrop_home.log / LOG_FILENAME).read_text()
    assert "Traceback (most recent call last)" in text and "division by zero in the bowels" in text


def test_errors_in_worker_threads_are_reported_too(qtbot, app_logging, reeldrop_home):
    reporter = CrashReporter(reeldrop_home.log, show_dialogs=False).install()
    try:
        thread = threading.Thread(target=lambda: 1 / 0, name="some-worker")
        thread.start()
        thread.join(5)
        qtbot.waitUntil(lambda: reporter.reported == ["Something unexpected went wrong (ZeroDivisionError)."])
    finally:
        reporter.uninstall()
    app_logging.stop()
    assert "Unexpected error in some-worker" in (reeldrop_home.log / LOG_FILENAME).read_text()


def test_log_file_never_holds_a_token_or_a_presigned_signature(app_logging, reeldrop_home):
    log = logging.getLogger("app.test")
    log.info("calling with Authorization: Bearer abc.def.ghi")
    log.info("GET https://bucket.s3.amazonaws.com/k?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIA")
    app_logging.stop()
    text = (reeldrop_home.log / LOG_FILENAME).read_text()
    assert "abc.def.ghi" not in text and "deadbeef" not in text and "AKIA" not in text
    assert "calling with Authorization" in text


def test_log_view_shows_new_lines_and_filters_to_problems(qtbot, app_logging):
    view = LogView(app_logging.tail, app_logging.log_file)
    qtbot.addWidget(view)
    view.show()
    log = logging.getLogger("app.test")
    log.info("first line of work")
    log.warning("something looked odd")
    qtbot.waitUntil(lambda: "something looked odd" in view.text.toPlainText(), timeout=5000)
    assert "first line of work" in view.text.toPlainText()
    view.problems_only.setChecked(True)
    assert "first line of work" not in view.text.toPlainText()
    assert "something looked odd" in view.text.toPlainText()
    log.info("more routine")
    log.error("a failure")
    qtbot.waitUntil(lambda: "a failure" in view.text.toPlainText(), timeout=5000)
    assert "more routine" not in view.text.toPlainText()
