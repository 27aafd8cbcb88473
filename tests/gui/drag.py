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
    # Qt's own signatures: a drag enters at a QPoint, a drop lands at a QPointF (PySide6 before 6.12
    # refuses a QPointF for the enter).
    centre = widget.rect().center()
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(centre, Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(widget, enter)
    dropped = QDropEvent(QPointF(centre), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    if enter.isAccepted():
        QApplication.sendEvent(widget, dropped)
    return enter, dropped
