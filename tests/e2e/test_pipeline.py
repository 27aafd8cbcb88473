"""One dropped file through every stage against the real server, moto S3 and real ffmpeg."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from app.core.media import probe
from app.core.pipeline.driver import Pipeline
from app.core.pipeline.model import ItemSnapshot, Stage
from tests.support.files import make_clip
from tests.support.servers import User
from tests.support.waiting import wait_until


def wait_for_stage(pipeline: Pipeline, item_id: str, stages: set[Stage], timeout: float = 120) -> ItemSnapshot:
    """The item's snapshot once it reaches one of ``stages`` (tests.support.waiting.wait_until does the waiting)."""

    def reached() -> ItemSnapshot | None:
        snap = next(s for s in pipeline.snapshot() if s.item_id == item_id)
        return snap if snap.stage in stages else None

    return wait_until(reached, timeout=timeout, interval=0.05, what=f"{item_id} to reach {sorted(stages)}")


def test_a_clip_goes_end_to_end_and_lands_its_results(make_pipeline, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "holiday.mp4", seconds=2, size="640x360")
    pipeline = make_pipeline()
    [item_id] = pipeline.add([clip], preset="480p")
    seen = [wait_for_stage(pipeline, item_id, {Stage.COMPRESSING, Stage.UPLOADING, Stage.PROCESSING})]
    while seen[-1].stage not in (Stage.DONE, Stage.FAILED):
        time.sleep(0.05)
        seen.append(next(s for s in pipeline.snapshot() if s.item_id == item_id))
    done = seen[-1]
    assert done.stage is Stage.DONE, done.error
    assert done.overall_fraction == 1.0 and done.results_dir is not None
    # One bar that only moves forward, and processing (the server's encodes, the longest step) has its
    # share of it: the bar no longer jumps to 80 % as processing begins.
    fractions = [s.overall_fraction for s in seen]
    assert fractions == sorted(fractions)
    processing = [s.overall_fraction for s in seen if s.stage is Stage.PROCESSING]
    assert processing and processing[0] < 0.6, processing[:3]
    files = {p.relative_to(done.results_dir).as_posix() for p in done.results_dir.rglob("*") if p.is_file()}
    assert "manifest.json" in files or any(f.endswith("manifest.json") for f in files), files
    # the compressed temp file is cleaned once the results are home
    record = pipeline.record(item_id)
    assert record.compressed_path and not Path(record.compressed_path).exists()
    assert done.size_after and done.size_after < clip.stat().st_size * 2


def test_bad_files_fail_alone_and_the_batch_goes_on(make_pipeline, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING)
    good = make_clip(tmp_path / "good.mp4", seconds=1, size="320x240")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 100)
    folder = tmp_path / "empty-folder"
    folder.mkdir()
    pipeline = make_pipeline()
    ids = pipeline.add([empty, text, folder, tmp_path / "missing.mp4", good], preset="480p")
    snaps = {s.item_id: s for s in pipeline.snapshot()}
    assert snaps[ids[0]].stage is Stage.FAILED and snaps[ids[0]].error_type == "empty_file"
    assert snaps[ids[2]].error_type == "is_directory" and "folder" in snaps[ids[2]].error
    assert snaps[ids[3]].error_type == "missing"
    notes = wait_for_stage(pipeline, ids[1], {Stage.FAILED, Stage.DONE})
    assert notes.stage is Stage.FAILED and notes.error_type == "not_media"
    assert "notes.mp4" in notes.error and str(tmp_path) not in notes.error
    said = [r.getMessage() for r in caplog.records if "notes.mp4" in r.getMessage()]
    assert said and not [m for m in said if "notes.mp4: notes.mp4" in m], said  # the name once per line
    finished = wait_for_stage(pipeline, ids[4], {Stage.DONE, Stage.FAILED})
    assert finished.stage is Stage.DONE, finished.error


def test_original_preset_uploads_the_file_as_it_is(make_pipeline, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "raw.mp4", seconds=1, size="320x240")
    pipeline = make_pipeline()
    [item_id] = pipeline.add([clip], preset="original")
    done = wait_for_stage(pipeline, item_id, {Stage.DONE, Stage.FAILED})
    assert done.stage is Stage.DONE, done.error
    assert done.encoder is None and done.size_after == clip.stat().st_size
    assert clip.exists()  # the source is never deleted


def test_cancel_mid_encode_leaves_no_temp_file(make_pipeline, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "long.mp4", seconds=20, size="1280x720")
    pipeline = make_pipeline()
    [item_id] = pipeline.add([clip], preset="1080p")
    wait_for_stage(pipeline, item_id, {Stage.COMPRESSING})
    deadline = time.monotonic() + 30
    while (
        next(s for s in pipeline.snapshot() if s.item_id == item_id).stage_fraction <= 0 and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    pipeline.cancel(item_id)
    cancelled = wait_for_stage(pipeline, item_id, {Stage.CANCELLED, Stage.FAILED, Stage.DONE})
    assert cancelled.stage is Stage.CANCELLED
    work = tmp_path / "home" / "cache" / "work"
    leftovers = [p for p in work.rglob("*") if p.is_file()] if work.exists() else []
    assert leftovers == []
    assert probe(clip).duration_s  # the source is intact


def test_pause_and_resume_during_upload_keep_the_parts(make_pipeline, tmp_path: Path, user: User) -> None:
    source = make_clip(tmp_path / "big.mp4", seconds=2, size="640x360")
    source.write_bytes(source.read_bytes() + b"\0" * (14 * 1024 * 1024))
    pipeline = make_pipeline(bandwidth_limit=3 * 1024 * 1024, concurrency=2)
    [item_id] = pipeline.add([source], preset="original")
    uploading = wait_for_stage(pipeline, item_id, {Stage.UPLOADING})
    deadline = time.monotonic() + 30
    while uploading.stage_fraction < 0.2 and time.monotonic() < deadline:
        time.sleep(0.05)
        uploading = next(s for s in pipeline.snapshot() if s.item_id == item_id)
    pipeline.pause(item_id)
    paused = wait_for_stage(pipeline, item_id, {Stage.PAUSED})
    assert paused.paused_stage is Stage.UPLOADING
    # "Paused at" where it stood, not at the start of the upload stage.
    assert paused.stage_fraction >= 0.2 and paused.overall_fraction >= uploading.overall_fraction > 0.0
    assert paused.rate is None and paused.eta is None
    time.sleep(0.5)
    assert next(s for s in pipeline.snapshot() if s.item_id == item_id).stage is Stage.PAUSED
    pipeline.resume(item_id)
    done = wait_for_stage(pipeline, item_id, {Stage.DONE, Stage.FAILED})
    assert done.stage is Stage.DONE, done.error
    statuses = user.call("GET", "/api/upload/stats/overview").json()["uploads_by_status"]
    assert sum(statuses.values()) == 1  # paused and resumed: still one upload


def test_retry_after_a_failure_and_remove(make_pipeline, tmp_path: Path) -> None:
    clip = tmp_path / "later.mp4"
    pipeline = make_pipeline()
    [item_id] = pipeline.add([clip], preset="480p")
    assert pipeline.snapshot()[0].error_type == "missing"
    make_clip(clip, seconds=1, size="320x240")  # the file turns up: retry goes on
    pipeline.retry(item_id)
    done = wait_for_stage(pipeline, item_id, {Stage.DONE, Stage.FAILED})
    assert done.stage is Stage.DONE, done.error
    pipeline.remove(item_id)
    assert pipeline.snapshot() == []


def test_an_audio_file_with_a_video_preset_is_compressed_as_audio(make_pipeline, tmp_path: Path) -> None:
    import subprocess

    from tests.support.files import ffmpeg_binary

    song = tmp_path / "voice-over.wav"
    subprocess.run(
        [ffmpeg_binary(), "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=330", "-t", "2", str(song)],
        check=True,
        timeout=60,
    )
    pipeline = make_pipeline()
    [item_id] = pipeline.add([song], preset="720p")
    done = wait_for_stage(pipeline, item_id, {Stage.DONE, Stage.FAILED})
    assert done.stage is Stage.DONE, done.error
    assert done.size_after and done.size_after < song.stat().st_size
    assert (done.results_dir / "manifest.json").exists()


def test_retry_after_the_job_ended_on_the_server_sends_the_file_again(
    make_pipeline, tmp_path: Path, user: User
) -> None:
    clip = make_clip(tmp_path / "lost.mp4", seconds=12, size="640x360")
    pipeline = make_pipeline()
    [item_id] = pipeline.add([clip], preset="480p")
    wait_for_stage(pipeline, item_id, {Stage.PROCESSING})
    first_job = pipeline.record(item_id).job_id
    # The server gives the job up (an admin, or a backend that lost the original): the item fails.
    assert user.call("POST", f"/api/jobs/{first_job}/cancel").status_code == 200
    failed = wait_for_stage(pipeline, item_id, {Stage.FAILED, Stage.DONE})
    assert failed.stage is Stage.FAILED and failed.error_type == "job_cancelled"
    pipeline.retry(item_id)  # asking the same job again would fail the same way: upload anew, new job
    done = wait_for_stage(pipeline, item_id, {Stage.DONE, Stage.FAILED})
    assert done.stage is Stage.DONE, done.error
    assert done.job_id and done.job_id != first_job


def test_a_file_waiting_for_the_encoder_says_queued_and_the_one_compressing_shows_its_speed(
    make_pipeline, tmp_path: Path
) -> None:
    # One encode at a time: while the first file compresses, the second has a driver but waits its turn.
    first = make_clip(tmp_path / "first.mp4", seconds=20, size="1280x720")
    second = make_clip(tmp_path / "second.mp4", seconds=1, size="320x240")
    pipeline = make_pipeline(concurrency=4)
    # The second file is added once the first compresses: added together, either could take the encoder
    # first (the short one then finishes before the check; seen once in CI).
    [first_id] = pipeline.add([first], preset="480p")
    deadline = time.monotonic() + 60
    while not any(s.item_id == first_id and s.stage is Stage.COMPRESSING and not s.queued for s in pipeline.snapshot()):
        assert time.monotonic() < deadline, "the first file never began to compress"
        time.sleep(0.05)
    [second_id] = pipeline.add([second], preset="480p")
    deadline = time.monotonic() + 60
    while True:
        by_id = {s.item_id: s for s in pipeline.snapshot()}
        compressing = by_id[first_id]
        if compressing.stage is Stage.COMPRESSING and compressing.stage_fraction > 0 and compressing.rate:
            break  # with its speed: the source's bytes per second (shown in the Speed column)
        assert time.monotonic() < deadline, by_id
        time.sleep(0.05)
    waiting = by_id[second_id]
    assert waiting.queued and waiting.stage in (Stage.WAITING, Stage.COMPRESSING), waiting
    assert waiting.overall_fraction == 0.0 and waiting.rate is None
    assert not compressing.queued and compressing.eta is not None
    assert 0 < compressing.rate < first.stat().st_size * 100  # bytes/s of the source: at most 100x real time
    done = wait_for_stage(pipeline, second_id, {Stage.UPLOADING, Stage.PROCESSING, Stage.DOWNLOADING, Stage.DONE})
    assert not done.queued
    pipeline.cancel(first_id)
