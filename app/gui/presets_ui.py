"""Presets as the GUI shows them: short names for the table, full labels and descriptions for pickers.

All of it comes from the packaged presets catalog (app.core.media.presets), so the picker, the table, the
CLI and the server agree on names.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QComboBox, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from app.core.media.presets import PresetError, default_catalog


def preset_names() -> list[str]:
    return default_catalog().names()


def known_preset(name: str | None) -> str:
    """`name` when it is a preset, else the catalog's default (settings can name one that no longer exists)."""
    catalog = default_catalog()
    return name if name is not None and name in catalog.presets else catalog.default


def preset_label(name: str) -> str:
    try:
        return default_catalog().get(name).label
    except PresetError:
        return name


def preset_short_name(name: str) -> str:
    """ "720p", "Original", "Shorts / Reels": the label without its parenthesised detail."""
    return preset_label(name).split(" (")[0] if name else ""


def preset_description(name: str) -> str:
    try:
        return default_catalog().get(name).description
    except PresetError:
        return ""


def fill_preset_combo(combo: QComboBox, selected: str | None = None) -> None:
    """Every preset (label shown, name as data, description as tooltip), `selected` chosen."""
    combo.blockSignals(True)
    try:
        combo.clear()
        for name in preset_names():
            combo.addItem(preset_label(name), name)
            combo.setItemData(combo.count() - 1, preset_description(name), Qt.ItemDataRole.ToolTipRole)
        combo.setCurrentIndex(max(0, combo.findData(known_preset(selected))))
    finally:
        combo.blockSignals(False)


class PresetDelegate(QStyledItemDelegate):
    """Edits the Preset column of the queue with a combo box of presets."""

    def createEditor(
        self, parent: QWidget, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QWidget:
        combo = QComboBox(parent)
        combo.setAccessibleName("Preset for this file")
        # Commit as soon as a preset is picked, like a menu, rather than on focus loss.
        combo.activated.connect(lambda _row: self.commitData.emit(combo))
        combo.activated.connect(lambda _row: self.closeEditor.emit(combo))
        return combo

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:
        assert isinstance(editor, QComboBox)
        fill_preset_combo(editor, index.data(Qt.ItemDataRole.EditRole))

    def setModelData(
        self, editor: QWidget, model: QAbstractItemModel, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        assert isinstance(editor, QComboBox)
        model.setData(index, editor.currentData(), Qt.ItemDataRole.EditRole)
