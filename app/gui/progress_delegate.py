"""Paints each row's progress bar with the platform style, so 500 rows cost 500 paints, not 500 widgets.

The style draws the bar; the delegate draws its words itself. Styles differ there: Fusion switches the
text's colour where the fill passes under it, the Windows style draws it in one pale colour over fill and
background alike (lost on both), macOS draws no text in a bar at all. Drawn here, the text is in the
highlight's text colour over the fill and the normal text colour beside it, on every platform.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionProgressBar, QStyleOptionViewItem

from app.core.pipeline.model import ItemSnapshot, Stage
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
        bar.textVisible = False  # drawn below, readable whatever the style does with it
        if item.stage in (Stage.PAUSED, Stage.CANCELLED, Stage.FAILED):
            # A greyed bar says "not moving" without a colour the theme may not have.
            bar.state &= ~QStyle.StateFlag.State_Enabled
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)
        filled = 0.0 if bar.maximum == 0 else bar.progress / _RESOLUTION
        _paint_text(painter, style, bar, option, filled, bar_text(item))

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        # Tall enough for the bar's text at any DPI: font metrics, never pixels.
        height = option.fontMetrics.height() + 10
        return QSize(option.fontMetrics.horizontalAdvance("Paused at 100%") + 24, height)


def _paint_text(
    painter: QPainter,
    style: QStyle,
    bar: QStyleOptionProgressBar,
    option: QStyleOptionViewItem,
    filled: float,
    text: str,
) -> None:
    """`text` centred on the bar: over the fill in the highlight's text colour, beside it in the text colour."""
    contents = style.subElementRect(QStyle.SubElement.SE_ProgressBarContents, bar, option.widget)
    fill_right = contents.left() + round(contents.width() * filled)
    group = QPalette.ColorGroup.Active if bar.state & QStyle.StateFlag.State_Enabled else QPalette.ColorGroup.Disabled
    over_fill = QRect(bar.rect.left(), bar.rect.top(), fill_right - bar.rect.left(), bar.rect.height())
    beside_fill = QRect(fill_right, bar.rect.top(), bar.rect.right() - fill_right + 1, bar.rect.height())
    painter.save()
    painter.setFont(option.font)
    for clip, role in ((over_fill, QPalette.ColorRole.HighlightedText), (beside_fill, QPalette.ColorRole.Text)):
        if clip.width() <= 0:
            continue
        painter.setClipRect(clip)
        painter.setPen(option.palette.color(group, role))
        painter.drawText(bar.rect, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()
