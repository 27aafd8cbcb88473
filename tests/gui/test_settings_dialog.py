"""Settings dialog: shows the saved settings, validates, and what it returns is saved and read back."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from app.core.media.presets import default_catalog
from app.core.settings import Profile, Settings, load_settings, read_settings
from app.gui.session import AppSession
from app.gui.settings_dialog import MB, SettingsDialog
from tests.gui.app_harness import AppLauncher


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
        found = [w for w in QApplication.topLevelWidgets() if isinstance(w, SettingsDialog) and w.isVisible()]
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
