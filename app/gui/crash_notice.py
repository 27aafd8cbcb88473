"""The bar that says "ReelDrop closed unexpectedly last time", at the top of the next launch's window.

A bar, not a dialog (the way browsers tell of a crash): it takes no focus and blocks nothing, so the
restored queue carries on underneath it while the user decides whether to copy the report.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMainWindow, QPushButton, QToolBar, QWidget

from app.core.last_run import CrashReport


class CrashNotice(QToolBar):
    def __init__(self, crash: CrashReport, parent: QWidget | None = None) -> None:
        super().__init__("Last session", parent)
        self.crash = crash
        self.setObjectName("crashNotice")
        self.setMovable(False)
        self.setFloatable(False)
        self.toggleViewAction().setVisible(False)  # not one of the toolbars a user shows and hides
        body = QWidget(self)
        row = QHBoxLayout(body)
        row.setContentsMargins(8, 4, 8, 4)
        cause = "" if crash.trace else " (it was stopped from outside)"
        self.message = QLabel(
            f"<b>ReelDrop closed unexpectedly last time</b>{cause}. Your queue was restored. "
            f"The report is in {html.escape(str(crash.report_path))}",  # rich text: a path may hold '<'
            body,
        )
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setWordWrap(True)
        row.addWidget(self.message, 1)
        self.copy_button = QPushButton("Copy report", body)
        self.copy_button.clicked.connect(self.copy_report)
        row.addWidget(self.copy_button)
        self.open_button = QPushButton("Open log folder", body)
        self.open_button.clicked.connect(self._open_folder)
        row.addWidget(self.open_button)
        self.dismiss_button = QPushButton("Dismiss", body)
        self.dismiss_button.clicked.connect(self.hide)
        row.addWidget(self.dismiss_button)
        self.addWidget(body)

    def copy_report(self) -> None:
        QGuiApplication.clipboard().setText(self.crash.text)
        self.copy_button.setText("Copied")

    def _open_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.crash.report_path.parent)))


def show_crash_notice(window: QMainWindow, crash: CrashReport) -> CrashNotice:
    """Put the notice on its own row above the window's toolbar."""
    notice = CrashNotice(crash, window)
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, notice)
    window.insertToolBarBreak(notice)  # a row of its own, not squeezed beside the main toolbar
    return notice
