"""The big "Drop videos here" area: takes files and folders from the file manager, or opens a file picker.

Large while the queue is empty (the first thing a new user sees says what to do), a slim bar once work is
queued. The window accepts drops anywhere too; both go through `paths_from_mime`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QRectF, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from app.gui.labels import plain_label


def paths_from_mime(mime: QMimeData | None) -> list[Path]:
    """The local files and folders in a drag (remote URLs and plain text are not ours to upload)."""
    if mime is None or not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


class DropZone(QFrame):
    paths_dropped = Signal(list)  # list[Path]
    add_files_requested = Signal()
    add_folder_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setObjectName("dropZone")
        self.setAccessibleName("Drop zone: drop video files or folders here")
        self._hovering = False
        self._compact = False

        self.title = plain_label("Drop videos here")
        title_font = self.title.font()
        title_font.setPointSizeF(title_font.pointSizeF() * 1.8)
        title_font.setBold(True)
        self.title.setFont(title_font)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint = plain_label(
            "Files or whole folders. Each one is compressed, uploaded and processed,\n"
            "and the results are saved to your output folder."
        )
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.compact_hint = plain_label("Drop more videos anywhere in this window, or")
        self.add_files = QPushButton("Add files…")
        self.add_files.setToolTip("Choose video files to add (Ctrl+O)")
        self.add_folder = QPushButton("Add folder…")
        self.add_folder.setToolTip("Add every video in a folder (Ctrl+Shift+O)")
        self.add_files.clicked.connect(self.add_files_requested)
        self.add_folder.clicked.connect(self.add_folder_requested)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.compact_hint)
        buttons.addWidget(self.add_files)
        buttons.addWidget(self.add_folder)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(self.title)
        layout.addWidget(self.hint)
        layout.addSpacing(self.fontMetrics().height())
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.set_compact(False)

    # -- look -------------------------------------------------------------------------------------
    def set_compact(self, compact: bool) -> None:
        """Slim bar (work is queued) or the big empty-state area."""
        self._compact = compact
        self.title.setVisible(not compact)
        self.hint.setVisible(not compact)
        self.compact_hint.setVisible(compact)
        line = self.fontMetrics().height()
        if compact:
            self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            self.setMinimumHeight(0)
        else:
            self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
            self.setMinimumHeight(line * 12)
        self.updateGeometry()
        self.update()

    @property
    def compact(self) -> bool:
        return self._compact

    def set_hovering(self, hovering: bool) -> None:
        if hovering != self._hovering:
            self._hovering = hovering
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        colour = palette.color(QPalette.ColorRole.Highlight if self._hovering else QPalette.ColorRole.Mid)
        pen = QPen(
            colour, 2 if self._hovering else 1.5, Qt.PenStyle.SolidLine if self._hovering else Qt.PenStyle.DashLine
        )
        painter.setPen(pen)
        if self._hovering:
            fill = palette.color(QPalette.ColorRole.Highlight)
            fill.setAlpha(28)
            painter.setBrush(fill)
        radius = self.fontMetrics().height() * 0.6
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(2, 2, -2, -2), radius, radius)

    # -- drops ------------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if paths_from_mime(event.mimeData()):
            event.acceptProposedAction()
            self.set_hovering(True)
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.set_hovering(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self.set_hovering(False)
        paths = paths_from_mime(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.paths_dropped.emit(paths)
