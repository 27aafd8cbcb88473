"""The queue as a table model: one row per ItemSnapshot, refreshed in place from the bridge's timer.

Rows are keyed by item id, so a refresh touches only the rows whose snapshot changed (selection and
scroll position survive), and hundreds of rows cost one model, not hundreds of widgets (STYLE.md 4).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPalette
from PySide6.QtWidgets import QApplication

from app.core.media.estimate import Estimate
from app.core.pipeline.model import ItemSnapshot, Stage
from app.gui import units
from app.gui.plain_errors import every_short_reason, short_reason
from app.gui.presets_ui import preset_short_name

SNAPSHOT_ROLE = Qt.ItemDataRole.UserRole + 1
FRACTION_ROLE = Qt.ItemDataRole.UserRole + 2
ESTIMATE_ROLE = Qt.ItemDataRole.UserRole + 3

Index = QModelIndex | QPersistentModelIndex


class Column(enum.IntEnum):
    NAME = 0
    PRESET = 1
    STAGE = 2
    PROGRESS = 3
    SIZE = 4
    SPEED = 5
    LEFT = 6

    @property
    def title(self) -> str:
        return _TITLES[self]


_TITLES = {
    Column.NAME: "File",
    Column.PRESET: "Preset",
    Column.STAGE: "Stage",
    Column.PROGRESS: "Progress",
    Column.SIZE: "Size before → after",
    Column.SPEED: "Speed",
    Column.LEFT: "Time left",
}
_EDITABLE_STAGES = (Stage.WAITING, Stage.PAUSED)


def stage_text(item: ItemSnapshot) -> str:
    if item.stage is Stage.FAILED and short_reason(item.error_type):
        return f"Failed: {short_reason(item.error_type)}"
    if item.stage is Stage.PAUSED and item.paused_stage not in (None, Stage.WAITING):
        return f"Paused ({item.paused_stage.label.lower()})"
    if item.queued:
        return "Queued"
    if item.stage is Stage.COMPRESSING and item.sent_while_compressing:
        return "Compressing + uploading"
    return item.stage.label


def every_stage_text() -> list[str]:
    """Everything `stage_text` can say: the Stage column is made wide enough for the longest."""
    working = (Stage.COMPRESSING, Stage.UPLOADING, Stage.PROCESSING, Stage.DOWNLOADING)
    return [
        *(stage.label for stage in Stage),
        "Queued",
        "Compressing + uploading",
        *(f"Paused ({stage.label.lower()})" for stage in working),
        *(f"Failed: {reason}" for reason in every_short_reason()),
    ]


class QueueModel(QAbstractTableModel):
    preset_change_requested = Signal(str, str)  # item_id, preset name (edited in the Preset column)
    estimates_changed = Signal()  # a file's estimate arrived: the queue's time left may change with it

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._items: list[ItemSnapshot] = []
        self._row_of: dict[str, int] = {}
        self._estimates: dict[str, tuple[str, Estimate | str]] = {}  # item_id -> (preset, estimate or problem)

    # -- feeding ----------------------------------------------------------------------------------
    def update(self, snapshots: Sequence[ItemSnapshot]) -> None:
        """Show `snapshots` (the pipeline's order), changing only what changed."""
        new_ids = [s.item_id for s in snapshots]
        old_ids = [s.item_id for s in self._items]
        if new_ids != old_ids:
            self._reshape(old_ids, new_ids)
        changed = [row for row, snap in enumerate(snapshots) if snap != self._items[row]]
        self._items = list(snapshots)
        self._row_of = {item_id: row for row, item_id in enumerate(new_ids)}
        self._estimates = {k: v for k, v in self._estimates.items() if k in self._row_of}
        for first, last in _runs(changed):
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(Column) - 1))

    def _reshape(self, old_ids: list[str], new_ids: list[str]) -> None:
        """Remove vanished rows and append new ones; anything else (a reorder) is a reset."""
        keep = set(new_ids)
        survivors = [i for i in old_ids if i in keep]
        if survivors != new_ids[: len(survivors)]:
            self.beginResetModel()
            self._items = [_placeholder(i) for i in new_ids]
            self.endResetModel()
            return
        for row in range(len(old_ids) - 1, -1, -1):
            if old_ids[row] not in keep:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._items[row]
                self.endRemoveRows()
        added = new_ids[len(survivors) :]
        if added:
            first = len(self._items)
            self.beginInsertRows(QModelIndex(), first, first + len(added) - 1)
            self._items.extend(_placeholder(i) for i in added)
            self.endInsertRows()

    def set_estimate(self, item_id: str, preset: str, estimate: Estimate | str) -> None:
        """An estimate (or the reason there is none) for `item_id` compressed with `preset`."""
        row = self._row_of.get(item_id)
        if row is None:
            return
        self._estimates[item_id] = (preset, estimate)
        self.dataChanged.emit(self.index(row, Column.SIZE), self.index(row, Column.LEFT))
        self.estimates_changed.emit()

    def estimate_for(self, item: ItemSnapshot) -> Estimate | str | None:
        preset, estimate = self._estimates.get(item.item_id, (None, None))
        return estimate if preset == item.preset else None

    def compress_seconds(self) -> dict[str, float]:
        """item id -> the estimated time to compress it, for the files whose estimate is known. A file that
        could not be estimated (not a video, unreadable) counts as no time: it will fail at once."""
        known = {item.item_id: self.estimate_for(item) for item in self._items}
        return {
            item_id: estimate.seconds if isinstance(estimate, Estimate) else 0.0
            for item_id, estimate in known.items()
            if estimate is not None
        }

    # -- reading ----------------------------------------------------------------------------------
    def items(self) -> list[ItemSnapshot]:
        return list(self._items)

    def item(self, row: int) -> ItemSnapshot:
        return self._items[row]

    def row_of(self, item_id: str) -> int | None:
        return self._row_of.get(item_id)

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return Column(section).title
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = super().flags(index)
        if index.isValid() and index.column() == Column.PRESET and self._items[index.row()].stage in _EDITABLE_STAGES:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or index.column() != Column.PRESET or not isinstance(value, str):
            return False
        item = self._items[index.row()]
        if value != item.preset:
            self.preset_change_requested.emit(item.item_id, value)
        return True

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._items):
            return None
        item = self._items[index.row()]
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(item, column)
        if role == Qt.ItemDataRole.EditRole and column == Column.PRESET:
            return item.preset
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(item, column)
        if role == Qt.ItemDataRole.ForegroundRole and column == Column.STAGE:
            return _stage_brush(item.stage)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (Column.SPEED, Column.LEFT, Column.SIZE):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == SNAPSHOT_ROLE:
            return item
        if role == FRACTION_ROLE:
            return item.overall_fraction
        if role == ESTIMATE_ROLE:
            return self.estimate_for(item)
        return None

    def _display(self, item: ItemSnapshot, column: Column) -> str:
        if column == Column.NAME:
            return item.source.name or str(item.source)
        if column == Column.PRESET:
            return preset_short_name(item.preset)
        if column == Column.STAGE:
            return stage_text(item)
        if column == Column.PROGRESS:
            return units.percent(item.overall_fraction)
        if column == Column.SIZE:
            estimate = self.estimate_for(item)
            # While compressing, the output so far says nothing about its final size: show the estimate.
            after = None if item.stage is Stage.COMPRESSING else item.size_after
            if after is None and isinstance(estimate, Estimate) and not item.stage.finished:
                return units.size_change(item.size_before, estimate.size_bytes, after_is_estimate=True)
            return units.size_change(item.size_before, after)
        if column == Column.SPEED:
            return units.human_rate(item.rate) if not item.stage.finished else ""
        if column == Column.LEFT:
            return self._time_left(item)
        return ""

    def _time_left(self, item: ItemSnapshot) -> str:
        if item.stage.finished or item.stage is Stage.PAUSED:
            return ""
        if item.stage is Stage.WAITING or item.queued:
            estimate = self.estimate_for(item)
            if isinstance(estimate, Estimate):
                return f"~{units.human_duration(estimate.seconds)} to compress"
            return ""
        return units.time_left(item.eta)

    def _tooltip(self, item: ItemSnapshot, column: Column) -> str | None:
        if item.stage is Stage.FAILED and item.error:
            return item.error
        if column == Column.NAME:
            return str(item.source)
        if column == Column.PRESET and item.stage in _EDITABLE_STAGES:
            return "Double-click to choose another preset for this file"
        if column == Column.STAGE and item.encoder and item.stage is Stage.COMPRESSING:
            sent = item.sent_while_compressing
            also = f"; {units.human_bytes(sent)} already uploaded while it compresses" if sent else ""
            return f"Compressing with {item.encoder}{also}"
        if column in (Column.SIZE, Column.LEFT):
            estimate = self.estimate_for(item)
            if isinstance(estimate, str):
                return f"No estimate: {estimate}"
            if isinstance(estimate, Estimate) and item.size_after is None:
                return f"Estimated before compressing: about {units.human_bytes(estimate.size_bytes)}"
        return None


def _placeholder(item_id: str) -> ItemSnapshot:
    # Replaced in the same update() call; it only has to compare unequal to the real snapshot.
    return ItemSnapshot(item_id, Path(), "", Stage.WAITING, -1.0, -1.0, None, None, None, None)


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 7] -> [(1, 3), (7, 7)]: one dataChanged per run of neighbouring rows."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and runs[-1][1] == row - 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs


# (light theme, dark theme): readable on either background
_STAGE_COLOURS = {Stage.FAILED: ("#c62828", "#ff8a80"), Stage.DONE: ("#2e7d32", "#a5d6a7")}


def _stage_brush(stage: Stage) -> QBrush | None:
    palette = QApplication.palette()
    if stage in _STAGE_COLOURS:
        light, dark = _STAGE_COLOURS[stage]
        return QBrush(QColor(light if palette.color(QPalette.ColorRole.Base).lightness() > 128 else dark))
    if stage in (Stage.CANCELLED, Stage.PAUSED):
        return palette.brush(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
    return None
