"""Quit and relaunch are honest (issue 12, item 5): quitting with files at work asks first, a relaunch shows
the saved queue greyed while the built-in server starts, Retry after Cancel works the first time, and the
sign-in dialog never throws away what was typed (nor does cancelling it change the saved account).

The real app on the built-in backend (or a real ReelDrop server for the sign-in), real ffmpeg on generated
clips, and real key presses: Ctrl+Q, Return, Escape.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from app.core.credentials import MemoryCredentialStore
from app.core.pipeline.model import Stage
from app.core.settings import EMBEDDED_PROFILE_NAME, Profile, Settings, load_settings, save_settings
from app.gui.main import RunningApp, build_app
from app.gui.quit_prompt import ask_to_quit, still_working_text
from app.gui.session import default_pipeline_factory
from app.gui.settings_dialog import SettingsDialog
from app.gui.signin_dialog import SignInDialog
from tests.gui.app_harness import (
    CONNECT_MS,
    WORK_MS,
    answer_message_box,
    item_named,
    select,
    stage_of,
    wait_stage,
)
from tests.support.files import make_clip

WORKING = (Stage.COMPRESSING, Stage.UPLOADING, Stage.PROCESSING, Stage.DOWNLOADING)
BOX_MS = 5000


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clips") / "take.mp4", seconds=4)  # about 400 KB


def copies(clip: Path, folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(clip, folder / name)) for name in names]


def slow_link(tmp_path: Path, **changes: Any) -> Settings:
    # "original" sends the file as it is; 80 kB/s keeps 400 KB files uploading for seconds.
    return Settings(default_preset="original", bandwidth_limit=80_000, output_folder=tmp_path / "results", **changes)


def open_box() -> QMessageBox | None:
    return next((w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()), None)


def shown_box(qtbot) -> QMessageBox:
    qtbot.waitUntil(lambda: open_box() is not None, timeout=BOX_MS)
    box = open_box()
    assert box is not None
    return box


def activate(qtbot, app: RunningApp) -> None:
    """Make the window the active one, as a user's click would: its shortcuts work only then."""
    app.window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is app.window, timeout=BOX_MS)


def press_ctrl_q(qtbot, app: RunningApp) -> None:
    activate(qtbot, app)
    qtbot.keyClick(app.window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)


def settle_commands(app: RunningApp) -> None:
    """Wait until the commands asked so far (settings saves among them) have run: they run in order."""
    app.bridge.command(lambda: None).result(timeout=30)


# -- 1. Quit asks when files are at work ------------------------------------------------------------------


def test_the_question_counts_files_in_words():
    assert still_working_text(3) == "3 files are still working. Quit and resume them next time?"
    assert still_working_text(1) == "1 file is still working. Quit and resume it next time?"


def test_return_quits_and_escape_cancels_the_question(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    parent.show()
    answers: list[tuple[bool, bool]] = []

    box = ask_to_quit(parent, 1, lambda *answer: answers.append(answer))
    assert box.text() == "1 file is still working. Quit and resume it next time?"
    assert box.defaultButton().text() == "Quit" and box.escapeButton() is box.button(QMessageBox.StandardButton.Cancel)
    qtbot.keyClick(box, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: answers == [(False, False)], timeout=BOX_MS)

    box = ask_to_quit(parent, 2, lambda *answer: answers.append(answer))
    assert box.checkBox().text() == "Don't ask again" and not box.checkBox().isChecked()
    qtbot.mouseClick(box.checkBox(), Qt.MouseButton.LeftButton)
    qtbot.keyClick(box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: answers[-1] == (True, True), timeout=BOX_MS)


def test_ctrl_q_with_files_at_work_asks_and_return_quits(qtbot, launch, clip, tmp_path, reeldrop_home):
    app = launch(slow_link(tmp_path))
    names = ("one.mp4", "two.mp4", "three.mp4")
    app.window.add_paths(copies(clip, tmp_path / "drop", *names))
    for name in names:
        wait_stage(qtbot, app, name, *WORKING)

    # Ctrl+Q asks, in words; Escape answers Cancel and the work goes on.
    press_ctrl_q(qtbot, app)
    box = shown_box(qtbot)
    assert box.text() == "3 files are still working. Quit and resume them next time?"
    assert box.defaultButton().text() == "Quit"
    qtbot.keyClick(box, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: open_box() is None, timeout=BOX_MS)
    assert app.window.isVisible()

    # The window's close button asks the same: the window system's close request reaches Qt as this event.
    QCoreApplication.sendEvent(app.window.windowHandle(), QCloseEvent())
    box = shown_box(qtbot)
    assert "still working" in box.text()
    qtbot.keyClick(box, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: open_box() is None, timeout=BOX_MS)
    assert app.window.isVisible() and app.window.files_working() > 0

    # "Don't ask again", then Return: the window closes, and the choice is saved in the settings.
    press_ctrl_q(qtbot, app)
    box = shown_box(qtbot)
    qtbot.mouseClick(box.checkBox(), Qt.MouseButton.LeftButton)
    qtbot.keyClick(box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not app.window.isVisible(), timeout=BOX_MS)
    settle_commands(app)
    assert load_settings(reeldrop_home.settings_file).ask_before_quitting is False
    launch.close(app)

    # Next launch: the files continue, and Ctrl+Q quits at once, as asked.
    again = launch()
    wait_stage(qtbot, again, "one.mp4", *WORKING)
    press_ctrl_q(qtbot, again)
    qtbot.waitUntil(lambda: not again.window.isVisible(), timeout=BOX_MS)
    assert open_box() is None
    assert again.crash.reported == []


def test_ctrl_q_with_nothing_at_work_quits_without_asking(qtbot, launch):
    app = launch()
    press_ctrl_q(qtbot, app)
    qtbot.waitUntil(lambda: not app.window.isVisible(), timeout=BOX_MS)
    assert open_box() is None


def test_dont_ask_again_is_a_setting_the_dialog_shows_and_restores(qtbot):
    dialog = SettingsDialog(Settings(ask_before_quitting=False))
    qtbot.addWidget(dialog)
    assert not dialog.ask_before_quitting.isChecked()
    assert dialog.edited_settings().ask_before_quitting is False
    dialog._restore_defaults()
    assert dialog.ask_before_quitting.isChecked() and dialog.edited_settings().ask_before_quitting is True
    quiet = Settings(ask_before_quitting=False)
    assert Settings.from_dict(quiet.to_dict()) == (quiet, [])


# -- 2. A relaunch shows the saved queue, greyed, while the built-in server starts --------------------------


def test_relaunch_shows_the_saved_queue_greyed_while_the_built_in_server_starts(
    qtbot, launch, clip, tmp_path, reeldrop_home
):
    first = launch(slow_link(tmp_path))
    first.window.add_paths(copies(clip, tmp_path / "drop", "interview.mp4"))
    before = wait_stage(qtbot, first, "interview.mp4", Stage.UPLOADING)
    launch.close(first)

    # The pipeline (and so the live queue) waits for `opened`; the built-in server really starts meanwhile.
    opened = threading.Event()

    def held_pipeline(connection, settings, paths):
        if not opened.wait(timeout=CONNECT_MS / 1000):
            raise TimeoutError("the test never let the pipeline open")
        return default_pipeline_factory(connection, settings, paths)

    again = build_app(
        reeldrop_home, store=MemoryCredentialStore(), pipeline_factory=held_pipeline, show_crash_dialogs=False
    )
    launch.running.append(again)
    try:
        window, panel = again.window, again.window.queue_panel
        qtbot.waitUntil(lambda: item_named(again, "interview.mp4") is not None, timeout=10_000)
        assert again.session.pipeline is None  # shown before the pipeline exists
        assert [i.item_id for i in window.model.items()] == [before.item_id]
        assert not panel.table.isEnabled()  # greyed, and out of reach
        assert panel.waiting_label.isVisible() and panel.waiting_label.text() == "Starting the built-in server…"
        assert not panel.drop_zone.title.isVisible()  # not "Drop videos here"
        assert window.totals_label.text() == "1 file in the queue"  # not "Queue empty"

        # A click on the row selects nothing: there is nothing to act on yet.
        table = panel.table
        row_rect = table.visualRect(window.model.index(0, 0))
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=row_rect.center())
        assert table.selectionModel().selectedRows() == []
    finally:
        opened.set()

    qtbot.waitUntil(lambda: again.session.pipeline is not None, timeout=CONNECT_MS)
    qtbot.waitUntil(lambda: panel.table.isEnabled() and not panel.waiting_label.isVisible(), timeout=BOX_MS)
    done = wait_stage(qtbot, again, "interview.mp4", Stage.DONE)
    assert done.item_id == before.item_id
    assert again.crash.reported == []


# -- 3. Retry after Cancel works the first time -----------------------------------------------------------


def test_retry_after_cancelling_during_processing_works_the_first_time(qtbot, launch, tmp_path):
    (tmp_path / "drop").mkdir()
    source = make_clip(tmp_path / "drop" / "speech.mp4", seconds=12, size="640x360")
    app = launch(Settings(default_preset="original", output_folder=tmp_path / "results"))
    app.window.add_paths([source])
    processing = wait_stage(qtbot, app, "speech.mp4", Stage.PROCESSING)
    first_job = processing.job_id
    assert first_job

    select(app, "speech.mp4")
    table = app.window.queue_panel.table
    activate(qtbot, app)
    qtbot.keyClick(table, Qt.Key.Key_Period, Qt.KeyboardModifier.ControlModifier)  # Cancel (Ctrl+.)
    answer_message_box(qtbot, "Stop")
    wait_stage(qtbot, app, "speech.mp4", Stage.CANCELLED)
    client = app.session.connection.client
    # The cancel reached the job on the server (its worker stops it at its next step).
    qtbot.waitUntil(lambda: client.job(first_job)["status"] not in ("pending", "processing"), timeout=WORK_MS)
    assert client.job(first_job)["status"] == "cancelled"

    select(app, "speech.mp4")
    activate(qtbot, app)
    qtbot.keyClick(table, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: stage_of(app, "speech.mp4") is not Stage.CANCELLED, timeout=BOX_MS)
    done = wait_stage(qtbot, app, "speech.mp4", Stage.DONE)  # a FAILED on the way fails the test
    assert done.job_id and done.job_id != first_job  # sent again, as a new job
    assert done.results_dir is not None and any(done.results_dir.iterdir())
    assert app.crash.reported == []


# -- 4. Sign in: Enter never discards, Cancel does not change the saved account -----------------------------


def test_enter_in_any_field_never_discards_what_was_typed(qtbot, bridge, server, user):
    dialog = SignInDialog(bridge, MemoryCredentialStore())
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=BOX_MS)
    assert dialog.sign_in_button.isDefault()
    finished: list[int] = []
    dialog.finished.connect(finished.append)

    qtbot.keyClicks(dialog.server, server.url)
    qtbot.keyClick(dialog.server, Qt.Key.Key_Return)
    assert dialog.isVisible() and dialog.server.text() == server.url
    assert dialog.username.hasFocus()  # Enter went on to what is missing
    qtbot.keyClicks(dialog.username, user.username)
    qtbot.keyClick(dialog.username, Qt.Key.Key_Return)
    assert dialog.password.hasFocus()
    qtbot.keyClick(dialog.name, Qt.Key.Key_Return)
    qtbot.keyClicks(dialog.name, "studio")
    qtbot.keyClick(dialog.name, Qt.Key.Key_Return)
    assert dialog.isVisible() and finished == []
    assert (dialog.server.text(), dialog.username.text(), dialog.name.text()) == (server.url, user.username, "studio")

    # Everything filled: Enter in a field signs in.
    qtbot.keyClicks(dialog.password, user.password)
    with qtbot.waitSignal(dialog.accepted, timeout=20_000):
        qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    assert dialog.profile == Profile("studio", server.url, user.username)


def test_cancelling_the_launch_time_sign_in_keeps_the_saved_account(qtbot, launch, server, user, reeldrop_home):
    studio = Profile("studio", server.url, user.username)
    save_settings(Settings().with_profile(studio).with_changes(active_profile="studio"), reeldrop_home.settings_file)
    store = MemoryCredentialStore()  # no token saved: the launch asks for a sign-in
    app = build_app(reeldrop_home, store=store, show_crash_dialogs=False)
    launch.running.append(app)
    window = app.window

    dialog = shown_sign_in_dialog(qtbot, window)
    assert dialog.server.text() == server.url and dialog.username.text() == user.username
    qtbot.keyClicks(dialog.password, "not the password")
    qtbot.keyClick(dialog.server, Qt.Key.Key_Return)  # all filled in: Enter in any field signs in
    qtbot.waitUntil(lambda: "did not accept" in dialog.status.text(), timeout=20_000)
    assert dialog.isVisible() and dialog.password.text() == "not the password"  # refused; nothing thrown away
    dialog.password.clear()

    qtbot.keyClick(dialog.password, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: sign_in_dialog(window) is None, timeout=BOX_MS)
    settle_commands(app)
    assert app.session.settings.active_profile == "studio"
    assert load_settings(reeldrop_home.settings_file).active_profile == "studio"
    assert app.session.connection is None and not app.session.busy
    assert window.account.text() == "Account: studio (not signed in)"
    assert window.connection_label.text() == "Sign in to studio to continue"

    # The account menu asks again, with the fields filled; this time the sign-in is right.
    again = next(a for a in window.account.menu().actions() if a.text() == "Sign in to studio…")
    again.trigger()
    dialog = shown_sign_in_dialog(qtbot, window)
    qtbot.keyClicks(dialog.password, user.password)
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: app.session.connection is not None and app.session.connection.profile.name == "studio",
        timeout=CONNECT_MS,
    )
    assert window.account.text() == "Account: studio"
    assert load_settings(reeldrop_home.settings_file).active_profile == "studio"
    assert EMBEDDED_PROFILE_NAME in [p.name for p in app.session.settings.profiles]


def sign_in_dialog(window) -> SignInDialog | None:
    found = [d for d in window.findChildren(SignInDialog) if d.isVisible()]
    return found[0] if found else None


def shown_sign_in_dialog(qtbot, window) -> SignInDialog:
    qtbot.waitUntil(lambda: sign_in_dialog(window) is not None, timeout=CONNECT_MS)
    dialog = sign_in_dialog(window)
    assert dialog is not None
    return dialog
