"""The last line of defence: an uncaught exception is logged with its traceback and shown in plain words.

Python calls `sys.excepthook` for errors in Qt slots and `threading.excepthook` for worker threads; both
land here. The dialog is shown on the main thread, at most one at a time, and never contains a traceback:
the full details are in the rotating log file, which the dialog can open. A worker's error reaches the main
thread through the app's MainThreadInbox (plain Python), never through a signal emitted off the main thread.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QObject, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from app.gui.inbox import MainThreadInbox
from app.gui.labels import plain_box
from app.gui.plain_errors import plain_words

log = logging.getLogger(__name__)


class CrashReporter(QObject):
    def __init__(
        self,
        log_dir: Path,
        parent: QObject | None = None,
        *,
        show_dialogs: bool = True,
        inbox: MainThreadInbox | None = None,
    ) -> None:
        super().__init__(parent)
        self._owns_inbox = inbox is None
        self.inbox = inbox if inbox is not None else MainThreadInbox(self)
        self.log_dir = log_dir
        self.show_dialogs = show_dialogs
        self.reported: list[str] = []  # what was shown, newest last (the tests and the status bar read it)
        self._showing = False
        self._previous: tuple[Callable[..., object], Callable[..., object]] | None = None

    def install(self) -> CrashReporter:
        self._previous = (sys.excepthook, threading.excepthook)
        sys.excepthook = self.handle
        threading.excepthook = self._handle_thread
        return self

    def uninstall(self) -> None:
        if self._previous is not None:
            sys.excepthook, threading.excepthook = self._previous
            self._previous = None
        if self._owns_inbox:
            self.inbox.close()

    def handle(
        self, kind: type[BaseException], error: BaseException, trace: TracebackType | None, where: str = ""
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self.inbox.post(lambda _none: QApplication.quit())
            return
        log.error("Unexpected error%s", f" in {where}" if where else "", exc_info=(kind, error, trace))
        # Called on any thread: the dialog is the main thread's business (after close(), the log has it).
        self.inbox.post(self._show, plain_words(error))

    def _handle_thread(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "a background thread"
        self.handle(args.exc_type, args.exc_value, args.exc_traceback, where=name)

    def _show(self, text: str) -> None:
        self.reported.append(text)
        if not self.show_dialogs or self._showing:
            return  # one dialog at a time; the rest are in the log
        self._showing = True
        box = plain_box(QMessageBox(_active_window()))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("ReelDrop ran into a problem")
        box.setText(text)
        box.setInformativeText(
            "Your queue is saved. The technical details were written to the log file, which helps if you report this."
        )
        open_logs = box.addButton("Open log folder", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Ok)
        box.finished.connect(lambda _result: self._closed(box.clickedButton() is open_logs))
        box.open()  # asynchronous: no nested event loop inside whatever slot failed

    def _closed(self, open_logs: bool) -> None:
        self._showing = False
        if open_logs:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.log_dir)))


def _active_window() -> QWidget | None:
    return QApplication.activeWindow()
