"""Simulated drag-and-drop: the events a file manager's drag delivers, sent to a widget."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget


def mime_with(*urls: QUrl) -> QMimeData:
    mime = QMimeData()
    mime.setUrls(list(urls))
    return mime


def file_mime(*paths: Path) -> QMimeData:
    return mime_with(*(QUrl.fromLocalFile(str(p)) for p in paths))


def drop(widget: QWidget, mime: QMimeData) -> tuple[QDragEnterEvent, QDropEvent]:
    """Drag `mime` over the middle of `widget` and drop it there (the drop only if the enter was accepted)."""
    centre = QPointF(widget.rect().center())
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(centre, Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(widget, enter)
    dropped = QDropEvent(centre, Qt.DropAction.CopyAction, mime, buttons, modifiers)
    if enter.isAccepted():
        QApplication.sendEvent(widget, dropped)
    return enter, dropped
