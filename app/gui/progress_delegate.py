"""Paints each row's progress bar with the platform style, so 500 rows cost 500 paints, not 500 widgets."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionProgressBar, QStyleOptionViewItem

from app.core.pipeline_types import ItemSnapshot, Stage
from app.gui import units
from app.gui.queue_model import SNAPSHOT_ROLE

_RESOLUTION = 1000  # steps in the bar; finer than pixels on any screen


def bar_text(item: ItemSnapshot) -> str:
    """What the bar says: the percentage while working, the outcome when finished."""
    if item.stage is Stage.DONE:
        return "Done"
    if item.stage is Stage.FAILED:
        return "Failed"
    if item.stage is Stage.CANCELLED:
        return "Cancelled"
    if item.stage is Stage.PAUSED:
        return f"Paused at {units.percent(item.overall_fraction)}"
    if item.queued:  # started, waiting its turn: not work at 0 %
        return "Queued"
    if item.stage is Stage.WAITING:
        return "Waiting"
    if item.progress_unknown:  # e.g. an encode of a source whose duration is unknown: no honest percent
        return item.stage.label
    return units.percent(item.overall_fraction)


class ProgressDelegate(QStyledItemDelegate):
    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        item = index.data(SNAPSHOT_ROLE)
        if not isinstance(item, ItemSnapshot):
            super().paint(painter, option, index)
            return
        # The selection highlight first, so a selected row still looks selected behind its bar.
        style = option.widget.style() if option.widget is not None else QApplication.style()
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, option.widget)
        bar = QStyleOptionProgressBar()
        if option.widget is not None:
            bar.initFrom(option.widget)
        margin = max(2, option.rect.height() // 8)
        bar.rect = option.rect.adjusted(margin, margin, -margin, -margin)
        bar.state = option.state | QStyle.StateFlag.State_Horizontal
        bar.minimum, bar.maximum = 0, _RESOLUTION
        finished_ok = item.stage is Stage.DONE
        bar.progress = _RESOLUTION if finished_ok else round(max(0.0, min(1.0, item.overall_fraction)) * _RESOLUTION)
        if item.progress_unknown and item.stage is not Stage.PAUSED:
            bar.minimum = bar.maximum = bar.progress = 0  # the style's "busy" bar
        bar.text = bar_text(item)
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        if item.stage in (Stage.PAUSED, Stage.CANCELLED, Stage.FAILED):
            # A greyed bar says "not moving" without a colour the theme may not have.
            bar.state &= ~QStyle.StateFlag.State_Enabled
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        # Tall enough for the bar's text at any DPI: font metrics, never pixels.
        height = option.fontMetrics.height() + 10
        return QSize(option.fontMetrics.horizontalAdvance("Paused at 100%") + 24, height)
