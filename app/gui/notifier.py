"""Tells the creator when a file is done or has failed: a system tray message, if the desktop has a tray.

Every notice is also kept in `history` and emitted as `notified`, so the status bar can show it where no
tray exists (and tests can see it). The tray icon's menu shows the window or quits.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMenu, QSystemTrayIcon, QWidget

from app.core.pipeline.model import ItemSnapshot
from app.gui.icons import app_icon

log = logging.getLogger(__name__)

MESSAGE_MS = 6000


def finished_message(item: ItemSnapshot) -> tuple[str, str]:
    where = f" Results are in {item.results_dir}." if item.results_dir else ""
    return f"{item.source.name} is done", f"Compressed, uploaded and processed.{where}"


def failed_message(item: ItemSnapshot) -> tuple[str, str]:
    return f"{item.source.name} failed", item.error or "Open ReelDrop to see why and retry."


class Notifier(QObject):
    notified = Signal(str, str)  # title, message

    def __init__(self, window: QWidget, *, enabled: bool = True) -> None:
        super().__init__(window)
        self.enabled = enabled
        self.history: list[tuple[str, str]] = []
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(app_icon(), self)
            self.tray.setToolTip("ReelDrop")
            menu = QMenu(window)
            menu.addAction("Show ReelDrop", lambda: _bring_forward(window, raise_it=True))
            menu.addSeparator()
            menu.addAction("Quit", window.close)
            self.tray.setContextMenu(menu)
            self.tray.activated.connect(lambda _reason: _bring_forward(window))
            self.tray.show()
        else:
            log.info("No system tray here: notifications appear in the status bar")

    def item_finished(self, item: ItemSnapshot) -> None:
        self._notify(*finished_message(item), QSystemTrayIcon.MessageIcon.Information)

    def item_failed(self, item: ItemSnapshot) -> None:
        self._notify(*failed_message(item), QSystemTrayIcon.MessageIcon.Warning)

    def _notify(self, title: str, message: str, icon: QSystemTrayIcon.MessageIcon) -> None:
        if not self.enabled:
            return
        self.history.append((title, message))
        del self.history[:-100]
        if self.tray is not None and self.tray.supportsMessages():
            self.tray.showMessage(title, message, icon, MESSAGE_MS)
        self.notified.emit(title, message)

    def hide(self) -> None:
        if self.tray is not None:
            self.tray.hide()


def _bring_forward(window: QWidget, *, raise_it: bool = False) -> None:
    window.showNormal()
    if raise_it:
        window.raise_()
    window.activateWindow()
