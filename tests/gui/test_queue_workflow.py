"""Before starting: estimates, per-file presets, refused files explained, Start all; and accounts."""

from __future__ import annotations

import gc
import multiprocessing
import re
import shutil
import threading

import pytest
from PySide6.QtCore import Qt

from app.core.credentials import MemoryCredentialStore
from app.core.pipeline.model import Stage
from app.core.settings import EMBEDDED_PROFILE_NAME, Profile, Settings, load_settings
from app.gui.queue_model import Column
from tests.gui.app_harness import answer_message_box, item_named, wait_stage
from tests.support.files import make_clip

pytestmark = pytest.mark.slow


def cell(app, name: str, column: Column, role=Qt.ItemDataRole.DisplayRole):
    model = app.window.model
    return model.data(model.index(model.row_of(item_named(app, name).item_id), column), role)


def test_estimates_presets_and_refusals_before_start(qtbot, launch, tmp_path):
    folder = tmp_path / "shoot"
    folder.mkdir()
    make_clip(folder / "a.mp4", seconds=2)
    shutil.copy2(folder / "a.mp4", folder / "b.mp4")
    (tmp_path / "notes.mp4").write_text("this is not a video")
    (tmp_path / "empty.mp4").write_bytes(b"")
    app = launch(Settings(start_on_add=False, default_preset="720p", output_folder=tmp_path / "out"))
    panel = app.window.queue_panel

    # A folder is expanded by the core; an empty file is refused on arrival, with the reason in its row.
    app.window.add_paths([folder, tmp_path / "notes.mp4", tmp_path / "empty.mp4"])
    wait_stage(qtbot, app, "a.mp4", Stage.WAITING)
    wait_stage(qtbot, app, "b.mp4", Stage.WAITING)
    wait_stage(qtbot, app, "notes.mp4", Stage.WAITING)
    refused = wait_stage(qtbot, app, "empty.mp4", Stage.FAILED)
    assert refused.error and "empty.mp4" in refused.error
    assert cell(app, "empty.mp4", Column.STAGE, Qt.ItemDataRole.ToolTipRole) == refused.error
    assert app.window.notifier.history == []  # refused on arrival: shown in the queue, not notified

    # Estimates arrive off the main thread and show as "~" figures, per file and in total; the text file
    # gets none, and says why before anything starts.
    qtbot.waitUntil(lambda: "~" in (cell(app, "a.mp4", Column.SIZE) or ""), timeout=60_000)
    qtbot.waitUntil(lambda: "~" in (cell(app, "b.mp4", Column.SIZE) or ""), timeout=60_000)
    assert re.fullmatch(r"~.+ to compress", cell(app, "a.mp4", Column.LEFT))
    qtbot.waitUntil(
        lambda: (cell(app, "notes.mp4", Column.SIZE, Qt.ItemDataRole.ToolTipRole) or "").startswith("No estimate: "),
        timeout=60_000,
    )
    assert "notes.mp4" in cell(app, "notes.mp4", Column.SIZE, Qt.ItemDataRole.ToolTipRole)
    qtbot.waitUntil(lambda: "after compression" in panel.summary.text())
    assert panel.summary.text().startswith("3 files waiting: about ")
    assert panel.start_all.isVisible() and app.window.start_all_action.isEnabled()

    # A per-file preset, edited in the Preset column; the estimate follows.
    model = app.window.model
    before = cell(app, "b.mp4", Column.SIZE)
    assert model.setData(model.index(model.row_of(item_named(app, "b.mp4").item_id), Column.PRESET), "audio")
    qtbot.waitUntil(lambda: item_named(app, "b.mp4").preset == "audio", timeout=10_000)
    assert cell(app, "b.mp4", Column.PRESET) == "Audio only"
    qtbot.waitUntil(lambda: "~" in cell(app, "b.mp4", Column.SIZE) and cell(app, "b.mp4", Column.SIZE) != before)

    qtbot.mouseClick(panel.start_all, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not app.window.start_all_action.isEnabled())  # every file is started now
    wait_stage(qtbot, app, "a.mp4", Stage.DONE)
    done = wait_stage(qtbot, app, "b.mp4", Stage.DONE)
    assert done.preset == "audio"
    failed = wait_stage(qtbot, app, "notes.mp4", Stage.FAILED)
    assert "notes.mp4" in failed.error
    qtbot.waitUntil(lambda: ("notes.mp4 failed", failed.error) in app.window.notifier.history)

    # Show error explains it in plain words, with no traceback, and offers Retry.
    app.window.show_error(failed)
    text = answer_message_box(qtbot, "Close")
    assert failed.error in text and "Traceback" not in text
    assert app.crash.reported == []


def test_server_account_sign_in_needed_then_sign_out(qtbot, launch, server, user, reeldrop_home):
    work = Profile("studio", server.url, user.username)
    store = MemoryCredentialStore()
    app = launch(Settings().with_profile(work), store=store)
    window = app.window
    assert window.account.text() == f"Account: {EMBEDDED_PROFILE_NAME}"

    # Switching to a server with no saved sign-in asks for one, with the fields filled in.
    window.account.profile_chosen.emit("studio")
    qtbot.waitUntil(lambda: _sign_in_dialog(window) is not None, timeout=60_000)
    dialog = _sign_in_dialog(window)
    assert dialog.server.text() == server.url and dialog.username.text() == user.username
    assert "memory only" in dialog.keyring_label.text()
    qtbot.keyClicks(dialog.password, user.password)
    qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: app.session.connection is not None and app.session.connection.profile.name == "studio", timeout=60_000
    )
    assert store.get_token("studio", server.url)
    assert window.account.text() == "Account: studio"
    assert window.connection_label.text() == f"Signed in to studio as {user.username}"
    assert load_settings(reeldrop_home.settings_file).active_profile == "studio"

    window.sign_out("studio")
    qtbot.waitUntil(lambda: app.session.connection is not None and app.session.connection.embedded, timeout=60_000)
    assert store.get_token("studio", server.url) is None
    assert load_settings(reeldrop_home.settings_file).active_profile == EMBEDDED_PROFILE_NAME
    assert load_settings(reeldrop_home.settings_file).profile("studio") == work  # kept for next time
    assert app.crash.reported == []


def _sign_in_dialog(window):
    from app.gui.signin_dialog import SignInDialog

    found = [d for d in window.findChildren(SignInDialog) if d.isVisible()]
    return found[0] if found else None


def test_settings_apply_to_the_open_window_at_once(qtbot, launch, reeldrop_home, tmp_path):
    app = launch(Settings(notifications=True, default_preset="720p"))
    window = app.window
    assert window.queue_panel.preset_combo.currentData() == "720p"
    changed = app.session.settings.with_changes(
        notifications=False, default_preset="shorts", output_folder=tmp_path / "elsewhere", hardware_encoder=True
    )
    app.session.apply_settings(changed)
    assert window.notifier.enabled is False
    assert window.queue_panel.preset_combo.currentData() == "shorts"
    assert window.queue_panel.folder_button.text() == str(tmp_path / "elsewhere")
    assert window.estimates._allow_hardware is True
    qtbot.waitUntil(lambda: load_settings(reeldrop_home.settings_file) == changed, timeout=5000)

    # The choices row of the queue edits the same settings.
    window.queue_panel.preset_combo.setCurrentIndex(window.queue_panel.preset_combo.findData("480p"))
    assert app.session.settings.default_preset == "480p"
    qtbot.waitUntil(lambda: load_settings(reeldrop_home.settings_file).default_preset == "480p", timeout=5000)


def test_quitting_while_the_built_in_server_starts_leaves_nothing_running(qtbot, reeldrop_home):
    from app.gui.main import build_app

    running = build_app(reeldrop_home, store=MemoryCredentialStore(), show_crash_dialogs=False)
    assert running.session.busy
    running.close()  # at once: the server is still starting in its process
    alive = [p.name for p in multiprocessing.active_children() if p.name.startswith("reeldrop-local-backend")]
    alive += [t.name for t in threading.enumerate() if t.name.startswith("reeldrop-local-backend") and t.is_alive()]
    assert alive == []
    assert running.session.pipeline is None and running.session.connection is None
    assert gc.isenabled()  # collections were held for the start-up only
