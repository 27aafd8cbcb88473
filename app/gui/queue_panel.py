"""The Queue tab: the drop zone, the choices for new files (preset, output folder), and the queue table.

Until the pipeline is up (the built-in server starting, a sign-in missing) the table shows the saved queue
greyed and out of reach, under a line that says what it waits for (`set_waiting`).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.media.estimate import Estimate
from app.core.pipeline.model import ItemSnapshot
from app.gui import units
from app.gui.drop_zone import DropZone
from app.gui.estimates import not_started, wants_estimate
from app.gui.labels import plain_label
from app.gui.presets_ui import PresetDelegate, fill_preset_combo
from app.gui.progress_delegate import ProgressDelegate
from app.gui.queue_model import Column, QueueModel, every_stage_text

# Column widths in average character widths, so they scale with the font and the screen's DPI.
_COLUMN_CHARS = {
    Column.PRESET: 12,
    Column.STAGE: 24,
    Column.PROGRESS: 24,
    Column.SIZE: 22,
    Column.SPEED: 11,
    Column.LEFT: 21,
}


class QueuePanel(QWidget):
    preset_chosen = Signal(str)  # default preset for new files
    output_folder_chosen = Signal(object)  # Path
    start_all_requested = Signal()
    row_activated = Signal(object)  # ItemSnapshot double-clicked (outside the Preset column)

    def __init__(self, model: QueueModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.drop_zone = DropZone()

        self.preset_combo = QComboBox()
        self.preset_combo.setAccessibleName("Preset for new files")
        self.preset_combo.setToolTip("How new files are compressed before upload. Change it per file in the queue.")
        self.preset_combo.currentIndexChanged.connect(self._preset_picked)
        self.folder_button = QPushButton()
        self.folder_button.setToolTip("Where the results of each file are saved")
        self.folder_button.clicked.connect(self._choose_folder)
        self.start_all = QPushButton("Start all")
        self.start_all.setToolTip("Start every waiting file (Ctrl+Shift+Return)")
        self.start_all.clicked.connect(self.start_all_requested)
        self.summary = plain_label()
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.waiting_label = plain_label()
        self.waiting_label.setAccessibleName("Queue status")
        self.waiting_label.setWordWrap(True)
        self._waiting: str | None = None

        options = QHBoxLayout()
        preset_label = plain_label("&Preset for new files:")
        preset_label.setBuddy(self.preset_combo)
        folder_label = plain_label("Save &results to:")
        folder_label.setBuddy(self.folder_button)
        options.addWidget(preset_label)
        options.addWidget(self.preset_combo)
        options.addSpacing(self.fontMetrics().averageCharWidth() * 2)
        options.addWidget(folder_label)
        options.addWidget(self.folder_button, 1)
        options.addSpacing(self.fontMetrics().averageCharWidth() * 2)
        options.addWidget(self.summary)
        options.addWidget(self.start_all)

        self.table = QTableView()
        self.table.setModel(model)
        self.table.setAccessibleName("Queue")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # keep the file extension visible
        self.table.verticalHeader().hide()
        self.table.setItemDelegateForColumn(Column.PROGRESS, ProgressDelegate(self.table))
        self.table.setItemDelegateForColumn(Column.PRESET, PresetDelegate(self.table))
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.table.doubleClicked.connect(self._double_clicked)
        self._size_columns()

        layout = QVBoxLayout(self)
        layout.addWidget(self.drop_zone)
        layout.addLayout(options)
        layout.addWidget(self.waiting_label)
        layout.addWidget(self.table, 1)

        model.rowsInserted.connect(self._rows_changed)
        model.rowsRemoved.connect(self._rows_changed)
        model.modelReset.connect(self._rows_changed)
        model.dataChanged.connect(self._update_summary)
        self._rows_changed()

    def _size_columns(self) -> None:
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(Column.NAME, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(self.fontMetrics().averageCharWidth() * 6)
        char = self.fontMetrics().averageCharWidth()
        for column, chars in _COLUMN_CHARS.items():
            self.table.setColumnWidth(column, char * chars)
        # The Stage column holds its longest words whole ("Compressing + uploading", "Failed: server lost
        # the results"): measured in the table's font, as an average character width cannot say.
        metrics = self.table.fontMetrics()
        margin = 2 * (self.table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, self.table) + 1)
        widest = max(metrics.horizontalAdvance(words) for words in every_stage_text())
        self.table.setColumnWidth(Column.STAGE, max(self.table.columnWidth(Column.STAGE), widest + margin + char))
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 12)

    # -- options ----------------------------------------------------------------------------------
    def show_choices(self, preset: str, output_folder: Path) -> None:
        fill_preset_combo(self.preset_combo, preset)
        self.folder_button.setText(str(output_folder))
        self.folder_button.setProperty("folder", str(output_folder))

    def _preset_picked(self, _row: int) -> None:
        name = self.preset_combo.currentData()
        if name:
            self.preset_chosen.emit(name)

    def _choose_folder(self) -> None:
        start = self.folder_button.property("folder") or str(Path.home())
        chosen = QFileDialog.getExistingDirectory(self, "Save results to", start)
        if chosen:
            self.output_folder_chosen.emit(Path(chosen))

    # -- table ------------------------------------------------------------------------------------
    def set_waiting(self, waiting: str | None) -> None:
        """What the queue waits for ("Starting the built-in server…"), or None: it can be worked on."""
        self._waiting = waiting
        self.waiting_label.setText(waiting or "")
        # Disabled, the rows paint greyed and take no clicks, keys or context menu: nothing to act on yet.
        self.table.setEnabled(waiting is None)
        self._rows_changed()

    @property
    def waiting(self) -> str | None:
        return self._waiting

    def selected_items(self) -> list[ItemSnapshot]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.model.item(row) for row in rows if row < self.model.rowCount()]

    def _double_clicked(self, index: QModelIndex) -> None:
        if index.column() != Column.PRESET or not (self.model.flags(index) & Qt.ItemFlag.ItemIsEditable):
            self.row_activated.emit(self.model.item(index.row()))

    def _rows_changed(self, *_args: object) -> None:
        rows = self.model.rowCount() > 0
        self.drop_zone.set_compact(rows)
        self.table.setVisible(rows)
        self.waiting_label.setVisible(rows and self._waiting is not None)
        self._update_summary()

    def _update_summary(self, *_args: object) -> None:
        waiting = [item for item in self.model.items() if wants_estimate(item)]
        self.start_all.setVisible(any(not_started(item) for item in waiting))  # queued ones are started
        self.start_all.setEnabled(self._waiting is None)
        if not waiting:
            self.summary.setText("")
            return
        estimates = [self.model.estimate_for(item) for item in waiting]
        known = [e for e in estimates if isinstance(e, Estimate)]
        text = f"{units.count_of(len(waiting), 'file')} waiting"
        if any(e is None for e in estimates):
            text += " (estimating…)"
        elif known:
            size = sum(e.size_bytes for e in known)
            seconds = sum(e.seconds for e in known)
            text += f": about {units.human_bytes(size)} after compression, ~{units.human_duration(seconds)} to compress"
        self.summary.setText(text)
