"""Labels and message boxes that show text as text.

QLabel and QMessageBox guess the format of what they are given ("auto"): a string that looks like HTML is
rendered as HTML. Much of what this app shows comes from elsewhere: a job's title from a server, an error a
server or the system worded, a file's path. A title of `<img src=…>` or `<a href=…>` must read as written,
never become an image, a link or a layout. Rich text stays where it is meant (the About box), escaped."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget


def plain_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    return label


def plain_box(box: QMessageBox) -> QMessageBox:
    """The box's main and informative text as plain text (its detailed text always is)."""
    box.setTextFormat(Qt.TextFormat.PlainText)
    return box
