"""The app icon, drawn with QPainter at several sizes so it is crisp on every screen and in the tray.

A rounded tile with a "play" triangle dropping into a tray: no image file to package or to lose.
"""

from __future__ import annotations

import functools

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap, QPolygonF

_SIZES = (16, 24, 32, 48, 64, 128, 256)
_TILE = QColor("#e5484d")
_MARK = QColor("#ffffff")


def _draw(size: int) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    unit = size / 16
    tile = QPainterPath()
    tile.addRoundedRect(QRectF(0.5 * unit, 0.5 * unit, 15 * unit, 15 * unit), 3.5 * unit, 3.5 * unit)
    painter.fillPath(tile, _TILE)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(_MARK)
    play = QPolygonF([QPointF(5.5 * unit, 3 * unit), QPointF(11.5 * unit, 6.5 * unit), QPointF(5.5 * unit, 10 * unit)])
    painter.drawPolygon(play)
    pen = QPen(_MARK, max(1.0, 1.4 * unit), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    tray = QPainterPath(QPointF(3.5 * unit, 10.5 * unit))
    tray.lineTo(3.5 * unit, 12.5 * unit)
    tray.lineTo(12.5 * unit, 12.5 * unit)
    tray.lineTo(12.5 * unit, 10.5 * unit)
    painter.drawPath(tray)
    painter.end()
    return pixmap


@functools.cache
def app_icon() -> QIcon:
    icon = QIcon()
    for size in _SIZES:
        icon.addPixmap(_draw(size))
    return icon
