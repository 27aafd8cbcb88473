"""The Log tab: recent log lines, refreshed on a timer while visible, and a button to the log folder."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QFontDatabase, QHideEvent, QShowEvent
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from app.gui.labels import plain_label
from app.gui.logs import TAIL_LINES, LogTail

REFRESH_MS = 300


class LogView(QWidget):
    def __init__(self, tail: LogTail, log_file: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tail = tail
        self._seen = 0
        self.log_file = log_file
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(TAIL_LINES)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setAccessibleName("Log")
        self.problems_only = QCheckBox("Only warnings and errors")
        self.problems_only.toggled.connect(self._reload)
        open_folder = QPushButton("Open log folder")
        open_folder.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_file.parent))))
        where = plain_label(f"Full log: {log_file}")
        where.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.problems_only)
        top.addStretch(1)
        top.addWidget(open_folder)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.text, 1)
        layout.addWidget(where)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()
        self._timer.start()

    def hideEvent(self, event: QHideEvent) -> None:  # no need to format lines nobody looks at
        self._timer.stop()
        super().hideEvent(event)

    def refresh(self) -> None:
        lines = self._tail.since(self._seen)
        if not lines:
            return
        self._seen = lines[-1][0]
        minimum = logging.WARNING if self.problems_only.isChecked() else logging.NOTSET
        shown = [text for _n, level, text in lines if level >= minimum]
        if shown:
            at_bottom = self.text.verticalScrollBar().value() == self.text.verticalScrollBar().maximum()
            self.text.appendPlainText("\n".join(shown))
            if at_bottom:
                self.text.verticalScrollBar().setValue(self.text.verticalScrollBar().maximum())

    def _reload(self) -> None:
        self.text.clear()
        self._seen = 0
        self.refresh()
