"""The drop zone takes local files and folders from a drag; the About box names every version."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QMimeData, QUrl, qVersion

from app import __version__
from app.core.media import find_ffmpeg
from app.gui.about_dialog import AboutDialog
from app.gui.drop_zone import DropZone, paths_from_mime
from tests.gui.drag import drop, mime_with


def test_paths_from_mime_keeps_local_files_and_folders_only(tmp_path):
    clip, folder = tmp_path / "a clip.mp4", tmp_path / "shoot"
    mime = mime_with(
        QUrl.fromLocalFile(str(clip)),
        QUrl.fromLocalFile(str(folder)),
        QUrl("https://example.test/video.mp4"),
    )
    assert paths_from_mime(mime) == [clip, folder]
    text_only = QMimeData()
    text_only.setText("/not/a/url.mp4")
    assert paths_from_mime(text_only) == [] and paths_from_mime(None) == []


def test_drop_zone_emits_dropped_paths_and_refuses_remote_urls(qtbot, tmp_path):
    zone = DropZone()
    qtbot.addWidget(zone)
    zone.resize(600, 300)
    zone.show()
    assert zone.title.text() == "Drop videos here" and zone.title.isVisible()
    got: list[list[Path]] = []
    zone.paths_dropped.connect(got.append)

    enter, dropped = drop(zone, mime_with(QUrl.fromLocalFile(str(tmp_path / "a.mp4"))))
    assert enter.isAccepted() and dropped.isAccepted()
    assert got == [[tmp_path / "a.mp4"]]

    enter, _ = drop(zone, mime_with(QUrl("https://example.test/v.mp4")))
    assert not enter.isAccepted()
    assert len(got) == 1

    zone.set_compact(True)
    assert not zone.title.isVisible() and zone.compact_hint.isVisible()
    assert zone.add_files.isVisible() and zone.add_folder.isVisible()


def test_about_box_names_app_qt_and_ffmpeg_versions(qtbot, bridge):
    dialog = AboutDialog(bridge)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.ffmpeg != "checking…", timeout=15_000)
    text = dialog.version_text()
    assert f"ReelDrop: {__version__}" in text
    assert f"Qt: {qVersion()}" in text and f"PySide6: {pyside_version}" in text
    assert re.search(rf"ffmpeg: {re.escape(find_ffmpeg().version)} \(", text)
    assert "checking" not in dialog.versions.text()
