"""Compress-while-upload in the pipeline, against the real server, moto S3 and real ffmpeg: the encode is
uploaded while ffmpeg writes it, the job runs on the file that results, and a cancel mid-encode leaves no
upload behind. (That parts leave before the writer is done is shown at the engine level, in
tests/core/transfer/test_streaming_upload.py; here the clips are small to keep the suite quick.)"""

from __future__ import annotations

import time
from pathlib import Path

from app.core.pipeline.model import Stage
from app.core.settings import Settings
from tests.e2e.test_pipeline import wait_for_stage
from tests.support.files import make_clip
from tests.support.servers import User


def uploads_of(user: User) -> dict[str, int]:
    answer = user.call("GET", "/api/upload/stats/overview")
    answer.raise_for_status()
    return answer.json()["uploads_by_status"]


def streamed_upload(pipeline, item_id: str, user: User) -> dict:
    upload_id = pipeline.record(item_id).upload_id
    answer = user.call("GET", f"/api/upload/{upload_id}")
    answer.raise_for_status()
    return answer.json()


def test_the_encode_is_uploaded_while_it_is_written_and_processed(make_pipeline, tmp_path: Path, user: User) -> None:
    clip = make_clip(tmp_path / "talk.mp4", seconds=3, size="640x360")
    pipeline = make_pipeline()
    pipeline._runner.streams.min_bytes = 0  # stream even this small encode
    [item_id] = pipeline.add([clip], preset="480p")
    done = wait_for_stage(pipeline, item_id, {Stage.DONE, Stage.FAILED})
    assert done.stage is Stage.DONE, done.error
    upload = streamed_upload(pipeline, item_id, user)
    assert upload["streaming"] is True and upload["status"] in ("uploaded", "deleted")
    assert upload["size"] == done.size_after < upload["declared_size"]
    job = user.call("GET", f"/api/jobs/{done.job_id}").json()
    assert job["status"] == "completed", job
    names = {p.name for p in done.results_dir.rglob("*") if p.is_file()}
    assert any(name.endswith(".mp4") for name in names), names


def test_turned_off_while_running_the_upload_waits_for_the_finished_file(
    make_pipeline, tmp_path: Path, user: User
) -> None:
    clip = make_clip(tmp_path / "calm.mp4", seconds=1, size="320x240")
    pipeline = make_pipeline()
    pipeline._runner.streams.min_bytes = 0
    pipeline.apply_settings(Settings(output_folder=tmp_path / "out", upload_while_compressing=False))
    [item_id] = pipeline.add([clip], preset="480p")
    done = wait_for_stage(pipeline, item_id, {Stage.DONE, Stage.FAILED})
    assert done.stage is Stage.DONE, done.error
    assert streamed_upload(pipeline, item_id, user)["streaming"] is False


def test_cancel_mid_encode_aborts_the_upload_that_ran_beside_it(make_pipeline, tmp_path: Path, user: User) -> None:
    clip = make_clip(tmp_path / "long.mp4", seconds=20, size="1280x720")
    pipeline = make_pipeline()
    pipeline._runner.streams.min_bytes = 0
    [item_id] = pipeline.add([clip], preset="1080p")
    deadline = time.monotonic() + 60
    while not uploads_of(user).get("pending") and time.monotonic() < deadline:  # the streaming upload began
        time.sleep(0.05)
    assert uploads_of(user).get("pending") == 1
    pipeline.cancel(item_id)
    cancelled = wait_for_stage(pipeline, item_id, {Stage.CANCELLED, Stage.FAILED, Stage.DONE})
    assert cancelled.stage is Stage.CANCELLED
    deadline = time.monotonic() + 30
    while uploads_of(user).get("pending") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert uploads_of(user) == {"aborted": 1}
    work = tmp_path / "home" / "cache" / "work"
    assert [p for p in work.rglob("*") if p.is_file()] == []
