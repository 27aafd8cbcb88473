"""What can be done to queued files, as QActions with shortcuts, enabled by what is selected.

The same actions appear in the Queue menu, the toolbar and the table's context menu; each runs on every
selected row for which it makes sense (pausing a finished file does nothing, so it is not offered).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from app.core.pipeline.model import ItemSnapshot, Stage
from app.gui.presets_ui import preset_label, preset_names

_ACTIVE = (Stage.COMPRESSING, Stage.UPLOADING, Stage.PROCESSING, Stage.DOWNLOADING)

# name: (text, shortcut, status tip, which items it applies to)
_SPECS: dict[str, tuple[str, str, str, Callable[[ItemSnapshot], bool]]] = {
    "start": ("&Start", "Ctrl+Return", "Start the selected waiting files", lambda i: i.stage is Stage.WAITING),
    "pause": ("&Pause", "Ctrl+P", "Pause the selected files; they continue where they stopped",
              lambda i: i.stage in (*_ACTIVE, Stage.WAITING)),
    "resume": ("Res&ume", "Ctrl+R", "Continue the selected paused files", lambda i: i.stage is Stage.PAUSED),
    "cancel": ("&Cancel", "Ctrl+.", "Stop the selected files for good (their partial work is deleted)",
               lambda i: not i.stage.finished),
    "retry": ("Re&try", "Ctrl+Shift+R", "Try the selected failed or cancelled files again",
              lambda i: i.stage in (Stage.FAILED, Stage.CANCELLED)),
    "remove": ("Re&move from list", "Delete", "Remove the selected files from the queue (your originals are kept)",
               lambda i: True),
    "open_results": ("&Open results folder", "Ctrl+E", "Show the results of the selected file",
                     lambda i: i.results_dir is not None),
    "show_error": ("Show &error", "Ctrl+I", "Explain why the selected file failed",
                   lambda i: i.stage is Stage.FAILED and bool(i.error)),
    "copy_link": ("Copy &link", "Ctrl+Shift+C", "Copy a link to the selected finished file's video, to share",
                  lambda i: i.stage is Stage.DONE and bool(i.job_id)),
}  # fmt: skip
PIPELINE_COMMANDS = ("start", "pause", "resume", "cancel", "retry", "remove")


class QueueActions(QObject):
    command_requested = Signal(str, list)  # pipeline method name, item ids
    preset_requested = Signal(str, list)  # preset name, item ids
    error_requested = Signal(object)  # ItemSnapshot whose error to show
    link_requested = Signal(object)  # ItemSnapshot whose link to copy

    def __init__(self, selection: Callable[[], list[ItemSnapshot]], parent: QWidget) -> None:
        super().__init__(parent)
        self._selection = selection
        self.actions: dict[str, QAction] = {}
        for name, (text, shortcut, tip, _applies) in _SPECS.items():
            action = QAction(text, parent)
            action.setShortcut(QKeySequence(shortcut))
            action.setStatusTip(tip)
            action.setToolTip(f"{tip} ({QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)})")
            action.triggered.connect(lambda _checked=False, n=name: self.trigger(n))
            self.actions[name] = action
        self.preset_menu = QMenu("Change p&reset", parent)
        for preset in preset_names():
            action = self.preset_menu.addAction(preset_label(preset))
            action.triggered.connect(lambda _checked=False, p=preset: self._change_preset(p))
        self.update_enabled()

    def applicable(self, name: str, items: list[ItemSnapshot] | None = None) -> list[ItemSnapshot]:
        applies = _SPECS[name][3]
        return [item for item in (self._selection() if items is None else items) if applies(item)]

    def update_enabled(self) -> None:
        items = self._selection()
        for name, action in self.actions.items():
            action.setEnabled(bool(self.applicable(name, items)))
        self.preset_menu.setEnabled(any(i.stage in (Stage.WAITING, Stage.PAUSED) for i in items))

    def trigger(self, name: str) -> None:
        items = self.applicable(name)
        if not items:
            return
        if name in PIPELINE_COMMANDS:
            self.command_requested.emit(name, [item.item_id for item in items])
        elif name == "open_results":
            for item in items[:5]:  # a folder window per file; five is plenty for one click
                assert item.results_dir is not None
                QDesktopServices.openUrl(QUrl.fromLocalFile(str(item.results_dir)))
        elif name == "show_error":
            self.error_requested.emit(items[0])
        elif name == "copy_link":
            self.link_requested.emit(items[0])  # one link on the clipboard: the first selected file's

    def _change_preset(self, preset: str) -> None:
        items = [i for i in self._selection() if i.stage in (Stage.WAITING, Stage.PAUSED)]
        if items:
            self.preset_requested.emit(preset, [item.item_id for item in items])
