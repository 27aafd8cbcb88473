"""The whole desktop app against the built-in backend: drop -> Done, pause/resume/cancel, relaunch resumes.

Real parts only: the window, the core pipeline, ffmpeg on tiny generated clips, the embedded ReelDrop
server with its S3 endpoint over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from app.core.pipeline.model import Stage
from app.core.settings import Settings
from app.gui.jobs_model import can_download
from tests.gui.app_harness import (
    WORK_MS,
    answer_message_box,
    files_under,
    item_named,
    items,
    select,
    wait_stage,
)
from tests.gui.drag import drop, file_mime
from tests.support.files import make_clip

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Tiny real videos (made once per module): 2 s and 4 s, 320x240 H.264/AAC."""
    folder = tmp_path_factory.mktemp("clips")
    return {
        "short": make_clip(folder / "beach day.mp4", seconds=2),
        "long": make_clip(folder / "long take.mp4", seconds=4),  # about 400 KB
    }


def copy_as(source: Path, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(source, folder / name))


def test_dropped_file_reaches_done_and_its_results_can_be_downloaded_again(qtbot, launch, clips, tmp_path):
    app = launch(Settings(output_folder=tmp_path / "results"))
    window = app.window
    assert window.queue_panel.drop_zone.title.isVisible()  # the empty state says what to do
    assert not window.start_all_action.isEnabled()  # nothing to start in an empty queue

    enter, dropped = drop(window.queue_panel.drop_zone, file_mime(clips["short"]))
    assert enter.isAccepted() and dropped.isAccepted()
    done = wait_stage(qtbot, app, "beach day.mp4", Stage.DONE)

    assert done.overall_fraction == 1.0 and done.job_id
    assert done.results_dir is not None and done.results_dir.is_dir()
    results = files_under(done.results_dir)
    assert results, "the results folder is empty"
    assert done.results_dir.is_relative_to(tmp_path / "results")
    assert not window.queue_panel.drop_zone.title.isVisible()  # the drop zone is a slim bar now
    qtbot.waitUntil(lambda: "1 done" in window.totals_label.text())
    assert window.notifier.history[-1][0] == "beach day.mp4 is done"

    # Copy link (Ctrl+Shift+C on the row): a link that downloads, and a message that says what it is.
    QGuiApplication.clipboard().clear()
    select(app, "beach day.mp4")
    window.queue_panel.table.setFocus()
    qtbot.keyClick(
        window.queue_panel.table, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    qtbot.waitUntil(lambda: QGuiApplication.clipboard().text().startswith("http"), timeout=WORK_MS)
    shared = requests.get(QGuiApplication.clipboard().text(), timeout=30)
    assert shared.status_code == 200 and shared.content[:2] == b"PK"  # a 320x240 clip: no 1080p video, the ZIP
    assert "Link to the results ZIP of beach day.mp4 copied" in window.statusBar().currentMessage()
    assert not window.totals_label.isVisible()  # the message has the status bar's room while it shows

    # The Jobs tab lists the job and downloads its results again, through the core's verified download.
    window.tabs.setCurrentWidget(window.jobs_panel)
    jobs = window.jobs_panel
    qtbot.waitUntil(lambda: jobs.model.rowCount() >= 1 and can_download(jobs.model.job(0)), timeout=WORK_MS)
    assert jobs.model.job(0)["job_id"] == done.job_id
    jobs.table.selectRow(0)
    assert jobs.download_button.isEnabled()
    qtbot.mouseClick(jobs.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: jobs.last_download is not None, timeout=WORK_MS)
    assert files_under(jobs.last_download) == results
    assert "Results saved to" in jobs.status.text()
    assert app.crash.reported == []


def test_pause_resume_and_cancel_from_the_queue(qtbot, launch, clips, tmp_path):
    # "original" uploads the file as it is; a slow link keeps it uploading long enough to pause.
    settings = Settings(default_preset="original", bandwidth_limit=80_000, output_folder=tmp_path / "results")
    app = launch(settings)
    folder = tmp_path / "drop"
    first = copy_as(clips["long"], folder, "first.mp4")
    second = copy_as(clips["long"], folder, "second.mp4")
    app.window.add_paths([first, second])
    actions = app.window.queue_actions.actions

    wait_stage(qtbot, app, "first.mp4", Stage.UPLOADING)
    select(app, "first.mp4")
    assert actions["pause"].isEnabled() and not actions["resume"].isEnabled()
    actions["pause"].trigger()
    paused = wait_stage(qtbot, app, "first.mp4", Stage.PAUSED)
    assert paused.paused_stage is Stage.UPLOADING
    assert app.window.model.data(app.window.model.index(app.window.model.row_of(paused.item_id), 2)) == (
        "Paused (uploading)"
    )
    qtbot.waitUntil(lambda: actions["resume"].isEnabled() and not actions["pause"].isEnabled())

    wait_stage(qtbot, app, "second.mp4", Stage.UPLOADING, Stage.COMPRESSING)
    select(app, "second.mp4")
    actions["cancel"].trigger()
    question = answer_message_box(qtbot, "Stop")  # work would be lost: the app asks first
    assert "Cancel this file?" in question and "original files are kept" in question
    wait_stage(qtbot, app, "second.mp4", Stage.CANCELLED)
    assert second.exists()  # never the creator's own file

    select(app, "first.mp4")
    actions["resume"].trigger()
    done = wait_stage(qtbot, app, "first.mp4", Stage.DONE)
    assert done.results_dir is not None and files_under(done.results_dir)

    select(app, "second.mp4")
    assert actions["retry"].isEnabled()
    actions["remove"].trigger()  # a cancelled file is not "work": no question
    qtbot.waitUntil(lambda: item_named(app, "second.mp4") is None)
    assert [i.source.name for i in items(app)] == ["first.mp4"]
    assert app.crash.reported == []


def test_quit_with_work_in_flight_and_relaunch_resumes(qtbot, launch, clips, tmp_path):
    settings = Settings(default_preset="original", bandwidth_limit=80_000, output_folder=tmp_path / "results")
    app = launch(settings)
    source = copy_as(clips["long"], tmp_path / "drop", "interview.mp4")
    app.window.add_paths([source])
    before = wait_stage(qtbot, app, "interview.mp4", Stage.UPLOADING)
    launch.close(app)  # quit mid-upload, as a user closing the window would

    again = launch()
    # The queue is back from the journal, the same item, and it carries on by itself.
    qtbot.waitUntil(lambda: item_named(again, "interview.mp4") is not None, timeout=10_000)
    assert [i.item_id for i in items(again)] == [before.item_id]
    done = wait_stage(qtbot, again, "interview.mp4", Stage.DONE)
    assert done.results_dir is not None and files_under(done.results_dir)
    assert again.crash.reported == []
