"""Quitting with files at work: "3 files are still working. Quit and resume them next time?"

Quitting costs no work (the pipeline journals every stage and each file continues next launch), so the
question only makes sure the user knows: Quit is the default button (Return answers it), Cancel is the
escape button, and "Don't ask again" turns the question off through Settings.ask_before_quitting, which
the Settings dialog shows and can turn back on.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QMessageBox, QWidget

from app.gui import units

QUIT_TEXT = "Quit"
DONT_ASK_TEXT = "Don't ask again"


def still_working_text(count: int) -> str:
    """ "1 file is still working. Quit and resume it next time?", "3 files are still working. …them…"."""
    one = count == 1
    return (
        f"{units.count_of(count, 'file')} {'is' if one else 'are'} still working. "
        f"Quit and resume {'it' if one else 'them'} next time?"
    )


def ask_to_quit(parent: QWidget, count: int, on_answer: Callable[[bool, bool], None]) -> QMessageBox:
    """Ask (window-modal, asynchronous); `on_answer(quit, dont_ask_again)` runs once the box is closed."""
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Quit ReelDrop?",
        still_working_text(count),
        QMessageBox.StandardButton.NoButton,
        parent,
    )
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setInformativeText("Each file continues where it stopped when you open ReelDrop again.")
    quit_button = box.addButton(QUIT_TEXT, QMessageBox.ButtonRole.AcceptRole)
    cancel_button = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(quit_button)
    box.setEscapeButton(cancel_button)
    dont_ask = QCheckBox(DONT_ASK_TEXT)
    box.setCheckBox(dont_ask)
    # "Don't ask again" counts only with Quit: ticked and then cancelled, the user has not quit without asking.
    box.finished.connect(lambda _result: on_answer(box.clickedButton() is quit_button, dont_ask.isChecked()))
    box.open()
    return box
