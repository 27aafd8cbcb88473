"""Pause, resume, cancel and quit in the middle of an encode, through the real pipeline: real ffmpeg on a
generated clip, the real server over HTTP, the upload streaming beside the encode.

A pause suspends the same ffmpeg process (its state is "stopped", its progress does not move) and the
upload that follows its output; resume continues that process from where it stood. None of these user
actions may log at ERROR or print a traceback; a quit says at INFO that the encode starts again.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from app.core.media import probe
from app.core.pipeline.driver import Pipeline
from app.core.pipeline.model import ItemSnapshot, Stage
from tests.e2e.test_pipeline import wait_for_stage
from tests.support.files import ffmpeg_binary, make_clip
from tests.support.servers import User
from tests.support.waiting import wait_until as wait_until_true

BOUND = 120.0  # seconds any wait below may take, at most (a loaded machine encodes slowly)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record of the app (and the in-process server) during the test, INFO included."""
    caplog.set_level(logging.INFO, logger="app")
    return caplog


def loud(logs: pytest.LogCaptureFixture) -> list[str]:
    """Records at ERROR or above, or carrying a traceback: none may come from a user's own action."""
    return [
        f"{r.levelname} {r.name}: {r.getMessage()}" for r in logs.records if r.levelno >= logging.ERROR or r.exc_info
    ]


def messages(logs: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in logs.records if r.levelno == level]


def snap_of(pipeline: Pipeline, item_id: str) -> ItemSnapshot:
    return next(s for s in pipeline.snapshot() if s.item_id == item_id)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = BOUND) -> Any:
    return wait_until_true(condition, timeout, 0.05, what)


def encoder_of(source: Path) -> psutil.Process | None:
    """The ffmpeg this test process runs on `source` (the in-process server runs others, on other files)."""
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name().startswith("ffmpeg") and str(source) in child.cmdline():
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def compressed_to(pipeline: Pipeline, item_id: str, fraction: float) -> ItemSnapshot:
    return wait_for(
        lambda: (s := snap_of(pipeline, item_id)).stage is Stage.COMPRESSING and s.stage_fraction >= fraction and s,
        f"the encode to reach {fraction:.0%}",
    )


def uploads_of(user: User) -> dict[str, int]:
    answer = user.call("GET", "/api/upload/stats/overview")
    answer.raise_for_status()
    return answer.json()["uploads_by_status"]


def test_pause_suspends_the_encode_and_resume_continues_the_same_process(
    make_pipeline, tmp_path: Path, user: User, logs: pytest.LogCaptureFixture
) -> None:
    clip = make_clip(tmp_path / "talk.mp4", seconds=10, size="1280x720")
    later = make_clip(tmp_path / "later.mp4", seconds=1, size="320x240")
    pipeline = make_pipeline()
    pipeline._runner.streams.min_bytes = 0  # the upload follows the growing output, as for a long video
    first, second = pipeline.add([clip, later], preset="720p")
    at = compressed_to(pipeline, first, 0.2)
    ffmpeg = wait_for(lambda: encoder_of(clip), "the encoder to start")
    wait_for(lambda: uploads_of(user).get("pending"), "the streaming upload to start")

    pipeline.pause(first)
    paused = snap_of(pipeline, first)
    assert paused.stage is Stage.PAUSED and paused.paused_stage is Stage.COMPRESSING
    wait_for(lambda: ffmpeg.status() == psutil.STATUS_STOPPED, "ffmpeg to be suspended")
    held = snap_of(pipeline, first)
    assert held.stage_fraction >= at.stage_fraction  # its real percent, not the stage's start
    assert held.overall_fraction > 0
    time.sleep(1.5)  # stopped is stopped: nothing may move meanwhile
    still = snap_of(pipeline, first)
    assert ffmpeg.is_running() and ffmpeg.status() == psutil.STATUS_STOPPED
    assert (still.stage, still.stage_fraction) == (Stage.PAUSED, held.stage_fraction)
    assert [s.item_id for s in pipeline.snapshot()] == [first, second]  # it kept its place

    pipeline.resume(first)
    assert snap_of(pipeline, first).stage is Stage.COMPRESSING
    wait_for(lambda: ffmpeg.status() != psutil.STATUS_STOPPED, "ffmpeg to run again")
    going_on = encoder_of(clip)
    assert going_on is not None and going_on.pid == ffmpeg.pid  # the same process goes on
    before = held.stage_fraction
    wait_for(
        lambda: (s := snap_of(pipeline, first)).stage is not Stage.COMPRESSING or s.stage_fraction > before,
        "the encode to go on",
    )
    moved_on = {Stage.UPLOADING, Stage.PROCESSING, Stage.DOWNLOADING, Stage.DONE}
    uploading = wait_for_stage(pipeline, first, moved_on, BOUND)
    assert not ffmpeg.is_running()
    output = pipeline.record(first).compressed_path
    if uploading.stage is not Stage.DONE and output and Path(output).exists():  # gone once the results are home
        assert probe(Path(output)).duration_s == pytest.approx(10.0, abs=0.2)
    done = wait_for_stage(pipeline, first, {Stage.DONE, Stage.FAILED}, BOUND)
    assert done.stage is Stage.DONE, done.error
    assert [s.item_id for s in pipeline.snapshot()] == [first, second]
    assert wait_for_stage(pipeline, second, {Stage.DONE, Stage.FAILED}, BOUND).stage is Stage.DONE
    assert uploads_of(user).get("aborted") is None  # one streamed upload, paused and resumed, never redone
    assert loud(logs) == []


def test_cancel_while_paused_mid_encode_stops_ffmpeg_and_aborts_the_upload_quietly(
    make_pipeline, tmp_path: Path, user: User, logs: pytest.LogCaptureFixture
) -> None:
    clip = make_clip(tmp_path / "long.mp4", seconds=10, size="1280x720")
    pipeline = make_pipeline()
    pipeline._runner.streams.min_bytes = 0
    [item_id] = pipeline.add([clip], preset="720p")
    compressed_to(pipeline, item_id, 0.2)
    ffmpeg = wait_for(lambda: encoder_of(clip), "the encoder to start")
    wait_for(lambda: uploads_of(user).get("pending"), "the streaming upload to start")
    pipeline.pause(item_id)
    wait_for(lambda: ffmpeg.status() == psutil.STATUS_STOPPED, "ffmpeg to be suspended")

    pipeline.cancel(item_id)
    cancelled = wait_for_stage(pipeline, item_id, {Stage.CANCELLED, Stage.FAILED, Stage.DONE}, BOUND)
    assert cancelled.stage is Stage.CANCELLED, cancelled.error
    wait_for(lambda: not ffmpeg.is_running() or ffmpeg.status() == psutil.STATUS_ZOMBIE, "ffmpeg to end")
    wait_for(lambda: uploads_of(user) == {"aborted": 1}, "the streaming upload to be aborted", timeout=30)
    work = tmp_path / "home" / "cache" / "work"
    assert [p for p in work.rglob("*") if p.is_file()] == []
    assert loud(logs) == []


def test_quit_mid_encode_says_it_starts_again_and_the_next_launch_does(
    make_pipeline, tmp_path: Path, logs: pytest.LogCaptureFixture
) -> None:
    clip = make_clip(tmp_path / "talk.mp4", seconds=10, size="1280x720")
    pipeline = make_pipeline()
    pipeline._runner.streams.min_bytes = 0
    [item_id] = pipeline.add([clip], preset="720p")
    compressed_to(pipeline, item_id, 0.2)
    ffmpeg = wait_for(lambda: encoder_of(clip), "the encoder to start")

    pipeline.shutdown()
    assert not ffmpeg.is_running()
    assert any("starts again at the next launch" in m and "talk.mp4" in m for m in messages(logs, logging.INFO))
    assert loud(logs) == []

    relaunched = make_pipeline()
    assert relaunched.record(item_id).stage == Stage.COMPRESSING.value
    assert relaunched.resume_unfinished() == [item_id]
    wait_for(lambda: encoder_of(clip), "the encode to run again")  # a new ffmpeg, from the start
    done = wait_for_stage(relaunched, item_id, {Stage.DONE, Stage.FAILED}, BOUND)
    assert done.stage is Stage.DONE, done.error
    assert loud(logs) == []


def test_a_source_of_unknown_duration_compresses_with_an_indeterminate_bar(
    make_pipeline, tmp_path: Path, logs: pytest.LogCaptureFixture
) -> None:
    # A raw H.264 stream has no container, so ffprobe cannot tell its duration: ffmpeg's progress has no
    # percent, and the queue must go on refreshing (it used to raise TypeError inside snapshot()).
    raw = tmp_path / "capture.h264"
    generate = ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-t", "10", "-c:v", "libx264"]
    subprocess.run(
        [ffmpeg_binary(), "-loglevel", "error", *generate, "-preset", "ultrafast", "-f", "h264", str(raw)],
        check=True,
        timeout=120,
    )
    assert probe(raw).duration_s is None
    pipeline = make_pipeline()
    [item_id] = pipeline.add([raw], preset="720p")
    # Once ffmpeg reported its first progress (bytes written), the snapshot says "unknown", not a number.
    unknown = wait_for(lambda: (s := snap_of(pipeline, item_id)).size_after and s, "a snapshot while it compresses")
    assert unknown.stage is Stage.COMPRESSING and unknown.progress_unknown
    assert unknown.stage_fraction == 0.0 and unknown.eta is None
    assert unknown.overall_fraction == 0.0
    done = wait_for_stage(pipeline, item_id, {Stage.DONE, Stage.FAILED}, BOUND)
    assert done.stage is Stage.DONE, done.error
    assert not done.progress_unknown and done.overall_fraction == 1.0
    assert loud(logs) == []
