"""Settings dialog: shows the saved settings, validates, and what it returns is saved and read back."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from app.connect import embedded_data_dir
from app.core.api import BackendError
from app.core.media.presets import default_catalog
from app.core.pipeline.model import Stage
from app.core.settings import Profile, Settings, load_settings, read_settings
from app.gui.session import AppSession
from app.gui.settings_dialog import MB, SettingsDialog
from tests.gui.app_harness import AppLauncher, answer_message_box, wait_stage
from tests.support.files import make_clip


def press(dialog: SettingsDialog, qtbot, which: QDialogButtonBox.StandardButton) -> None:
    box = dialog.findChild(QDialogButtonBox)
    qtbot.mouseClick(box.button(which), Qt.MouseButton.LeftButton)


def test_dialog_shows_the_current_settings(qtbot, tmp_path):
    settings = Settings(
        concurrency=6, bandwidth_limit=2_512_345, part_size_mib=None, default_preset="480p",
        output_folder=tmp_path / "out", hardware_encoder=True, start_on_add=False, notifications=False,
        upload_while_compressing=False,
    )  # fmt: skip
    dialog = SettingsDialog(settings, encoder_text="libx264 (software)")
    qtbot.addWidget(dialog)
    assert dialog.concurrency.value() == 6
    assert dialog.limit_enabled.isChecked() and dialog.limit.value() == 2.51
    assert dialog.part_auto.currentData() == "auto" and not dialog.part_size.isEnabled()
    assert dialog.preset.currentData() == "480p"
    assert dialog.output_folder.text() == str(tmp_path / "out")
    assert dialog.hardware.isChecked() and not dialog.start_on_add.isChecked() and not dialog.notifications.isChecked()
    assert not dialog.overlap.isChecked()
    assert dialog.encoder_label.text() == "libx264 (software)"
    assert dialog.edited_settings() == settings  # showing and reading back changes nothing


def test_changes_are_saved_and_survive_a_relaunch(qtbot, bridge, reeldrop_home, tmp_path):
    work = Profile("work", "https://videos.example.test", "alice")
    start = Settings().with_profile(work)
    session = AppSession(bridge, reeldrop_home, start)
    dialog = SettingsDialog(start)
    qtbot.addWidget(dialog)
    dialog.concurrency.setValue(8)
    dialog.limit_enabled.setChecked(True)
    dialog.limit.setValue(12.5)
    dialog.part_auto.setCurrentIndex(dialog.part_auto.findData("fixed"))
    assert dialog.part_size.isEnabled()
    dialog.part_size.setValue(32)
    dialog.preset.setCurrentIndex(dialog.preset.findData("shorts"))
    dialog.output_folder.setText(str(tmp_path / "results"))
    dialog.hardware.setChecked(True)
    dialog.start_on_add.setChecked(False)
    dialog.notifications.setChecked(False)
    assert dialog.overlap.isChecked()  # on by default
    dialog.overlap.setChecked(False)
    dialog.accepted.connect(lambda: session.apply_settings(dialog.result_settings))

    with qtbot.waitSignal(session.settings_changed, timeout=5000):
        press(dialog, qtbot, QDialogButtonBox.StandardButton.Ok)
    qtbot.waitUntil(lambda: reeldrop_home.settings_file.exists(), timeout=5000)
    qtbot.waitUntil(lambda: load_settings(reeldrop_home.settings_file).concurrency == 8, timeout=5000)

    loaded = read_settings(reeldrop_home.settings_file)
    assert loaded.problems == ()
    saved = loaded.settings
    assert saved == session.settings == dialog.result_settings
    assert saved.bandwidth_limit == round(12.5 * MB)
    assert saved.part_size_mib == 32
    assert saved.default_preset == "shorts"
    assert saved.output_folder == tmp_path / "results"
    assert (saved.hardware_encoder, saved.start_on_add, saved.notifications) == (True, False, False)
    assert saved.upload_while_compressing is False
    assert saved.profile("work") == work  # accounts are untouched by the settings dialog

    again = SettingsDialog(saved)  # "relaunch": a new dialog from what is on disk
    qtbot.addWidget(again)
    assert again.edited_settings() == saved


def test_bad_values_are_explained_and_nothing_is_saved(qtbot, reeldrop_home):
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.output_folder.setText("   ")
    press(dialog, qtbot, QDialogButtonBox.StandardButton.Ok)
    assert dialog.isVisible() and dialog.result_settings is None
    assert dialog.error.isVisible()
    assert "choose a folder" in dialog.error.text()
    assert not reeldrop_home.settings_file.exists()


def test_restore_defaults_keeps_accounts(qtbot, tmp_path):
    work = Profile("work", "https://videos.example.test", "alice")
    settings = Settings(concurrency=9, start_on_add=False).with_profile(work).with_changes(active_profile="work")
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    press(dialog, qtbot, QDialogButtonBox.StandardButton.RestoreDefaults)
    restored = dialog.edited_settings()
    assert restored.concurrency == Settings().concurrency and restored.start_on_add
    assert restored.active_profile == "work" and restored.profile("work") == work


def test_unknown_default_preset_shows_the_catalog_default(qtbot):
    # Settings can name a preset that no longer exists (an older version's); the picker must not be blank.
    dialog = SettingsDialog(Settings(default_preset="balanced"))
    qtbot.addWidget(dialog)
    assert dialog.preset.currentData() == default_catalog().default


def _open_settings_dialog(qtbot, window) -> SettingsDialog:
    window.settings_action.trigger()

    def shown() -> SettingsDialog | None:
        # This window's dialog: one left open by an earlier test's (closed) app must not be picked.
        found = [
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, SettingsDialog) and w.isVisible() and w.parent() is window
        ]
        return found[0] if found else None

    qtbot.waitUntil(lambda: shown() is not None, timeout=5000)
    dialog = shown()
    assert dialog is not None
    return dialog


@pytest.mark.slow
def test_parallel_uploads_apply_to_the_running_pipeline_without_a_restart(qtbot, reeldrop_home, tmp_path):
    launcher = AppLauncher(qtbot, reeldrop_home)
    try:
        app = launcher(Settings(concurrency=2, output_folder=tmp_path / "out"))
        pipeline = app.session.pipeline
        assert pipeline.upload_concurrency == 2 and pipeline.max_active == 4

        for wanted, drivers in ((8, 9), (3, 4)):
            dialog = _open_settings_dialog(qtbot, app.window)
            dialog.concurrency.setValue(wanted)
            press(dialog, qtbot, QDialogButtonBox.StandardButton.Ok)
            # Applied on the session's command thread: the same engine and item drivers, resized.
            qtbot.waitUntil(lambda wanted=wanted: pipeline.upload_concurrency == wanted, timeout=5000)
            assert pipeline.max_active == drivers
            assert app.session.pipeline is pipeline  # no reconnect, nothing restarted
            qtbot.waitUntil(lambda wanted=wanted: load_settings(reeldrop_home.settings_file).concurrency == wanted)
    finally:
        launcher.close_all()


# -- This computer: disk space, Free space, how long results are kept ----------------------------------


def test_results_retention_is_shown_edited_and_restored(qtbot):
    dialog = SettingsDialog(Settings(results_retention_days=7))
    qtbot.addWidget(dialog)
    assert dialog.retention.value() == 7
    dialog.retention.setValue(0)  # 0 = until you free space
    assert dialog.edited_settings().results_retention_days == 0
    press(dialog, qtbot, QDialogButtonBox.StandardButton.RestoreDefaults)
    assert dialog.retention.value() == Settings().results_retention_days == 30


def test_the_row_shows_what_this_computer_uses(qtbot, bridge, reeldrop_home):
    folder = embedded_data_dir()
    (folder / "storage" / "objects").mkdir(parents=True)
    (folder / "storage" / "objects" / "results.zip").write_bytes(b"z" * 1_234_567)
    (folder / "reeldrop-server.sqlite3").write_bytes(b"d" * 4096)
    session = AppSession(bridge, reeldrop_home, Settings())  # not connected: measuring needs no server
    dialog = SettingsDialog(session.settings, session=session)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.used_bytes is not None, timeout=5000)
    assert dialog.used_bytes == 1_234_567 + 4096
    assert dialog.space_label.text().startswith("Uses 1.24 MB on disk\nin ")
    assert "server" in dialog.space_label.text()
    assert str(folder) in dialog.space_label.toolTip()
    assert not dialog.free_button.isEnabled()  # the built-in server is not running yet


def test_a_server_profile_says_the_space_is_the_servers(qtbot, bridge, reeldrop_home):
    work = Profile("work", "https://videos.example.test", "alice")
    settings = Settings().with_profile(work).with_changes(active_profile="work")
    session = AppSession(bridge, reeldrop_home, settings)
    dialog = SettingsDialog(settings, session=session)
    qtbot.addWidget(dialog)
    assert "server" in dialog.space_label.text() and "work" in dialog.space_label.text()
    assert not dialog.free_button.isEnabled()
    assert dialog.used_bytes is None  # nothing measured: this computer's folder is not what is used


def _results_folder_files(folder) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_free_space_on_the_real_built_in_server(qtbot, launch, reeldrop_home, tmp_path):
    make_clip(tmp_path / "clip.mp4", seconds=2)
    app = launch(Settings(output_folder=tmp_path / "out", notifications=False))
    app.window.add_paths([tmp_path / "clip.mp4"])
    done = wait_stage(qtbot, app, "clip.mp4", Stage.DONE)
    assert done.job_id and done.results_dir
    saved = _results_folder_files(tmp_path / "out")
    assert saved

    dialog = _open_settings_dialog(qtbot, app.window)
    qtbot.waitUntil(lambda: dialog.used_bytes is not None, timeout=10_000)
    before = dialog.used_bytes
    assert before and dialog.space_label.text().startswith("Uses ")
    assert dialog.free_button.isEnabled()

    # Keep them: nothing happens.
    qtbot.mouseClick(dialog.free_button, Qt.MouseButton.LeftButton)
    question = answer_message_box(qtbot, "Keep them")
    assert "Results already saved in your results folder are not touched." in question
    assert not dialog.space_status.isVisible()

    qtbot.mouseClick(dialog.free_button, Qt.MouseButton.LeftButton)
    answer_message_box(qtbot, "Free space")
    qtbot.waitUntil(lambda: dialog.space_status.text().startswith("Freed "), timeout=30_000)
    assert dialog.free_button.isEnabled()
    after = dialog.used_bytes
    assert after is not None and after < before
    assert "Traceback" not in dialog.space_status.text()

    # The results ZIP is gone from the server, the copy in the results folder is not.
    client = app.session.connection.client
    with pytest.raises(BackendError) as removed:
        client.results_url(done.job_id)
    assert removed.value.status == 410 and removed.value.code == "results_removed"
    assert _results_folder_files(tmp_path / "out") == saved

    # Again: nothing left to free, said in words.
    qtbot.mouseClick(dialog.free_button, Qt.MouseButton.LeftButton)
    answer_message_box(qtbot, "Free space")
    qtbot.waitUntil(lambda: dialog.space_status.text().startswith("There was nothing to free"), timeout=30_000)
    dialog.reject()


@pytest.mark.slow
def test_free_space_keeps_the_jobs_the_queue_still_needs(qtbot, launch, tmp_path, monkeypatch):
    # An item whose results are not saved yet (a job id, not Done) is sent as one to keep.
    make_clip(tmp_path / "clip.mp4", seconds=2)
    app = launch(Settings(output_folder=tmp_path / "out", notifications=False))
    app.window.add_paths([tmp_path / "clip.mp4"])
    done = wait_stage(qtbot, app, "clip.mp4", Stage.DONE)
    pipeline = app.session.pipeline
    real_snapshot = pipeline.snapshot

    def snapshot_with_download_pending():
        return [replace(i, stage=Stage.DOWNLOADING) if i.job_id == done.job_id else i for i in real_snapshot()]

    monkeypatch.setattr(pipeline, "snapshot", snapshot_with_download_pending)
    dialog = _open_settings_dialog(qtbot, app.window)
    qtbot.waitUntil(lambda: dialog.free_button.isEnabled(), timeout=10_000)
    dialog.free_space()
    qtbot.waitUntil(lambda: dialog.space_status.text().startswith("There was nothing to free"), timeout=30_000)
    assert app.session.connection.client.results_url(done.job_id)["url"]  # still there
    dialog.reject()


@pytest.mark.slow
def test_a_failed_free_space_says_so_in_plain_words(qtbot, launch, tmp_path, monkeypatch, caplog):
    app = launch(Settings(output_folder=tmp_path / "out"))
    dialog = _open_settings_dialog(qtbot, app.window)
    qtbot.waitUntil(lambda: dialog.free_button.isEnabled(), timeout=10_000)
    client = app.session.connection.client
    monkeypatch.setattr(client, "base_url", "http://127.0.0.1:9")  # nothing listens there
    with caplog.at_level(logging.INFO, logger="app.gui.settings_dialog"):
        dialog.free_space()
        qtbot.waitUntil(lambda: not dialog.space_status.text().startswith("Freeing"), timeout=30_000)
    assert dialog.space_status.text().startswith("Could not free space."), dialog.space_status.text()
    assert "cannot be reached" in dialog.space_status.text()
    assert "Traceback" not in dialog.space_status.text()
    assert dialog.free_button.isEnabled()
    assert any("Free space" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    dialog.reject()
