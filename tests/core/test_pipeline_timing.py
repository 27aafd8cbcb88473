"""Each stage's share of a file's bar is its expected time (StageClock), driven by a clock the test moves."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.pipeline.live import StageProgress
from app.core.pipeline.model import Stage
from app.core.pipeline.store import ItemRecord
from app.core.pipeline.timing import PROCESSING_PER_ENCODE_SECOND, StageClock

MB = 1_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(item_id: str = "a", preset: str = "1080p", size: int = 150 * MB, compressed: int | None = None):
    return ItemRecord(
        item_id=item_id,
        position=1,
        source=Path(f"/videos/{item_id}.mp4"),
        preset=preset,
        output_dir=Path("/out"),
        stage=Stage.COMPRESSING,
        size_before=size,
        compressed_size=compressed,
    )


def run_stage(clock: StageClock, time: Clock, item: ItemRecord, stage: Stage, seconds: float) -> None:
    clock.stage_began(item.item_id, stage)
    time.now += seconds
    clock.stage_ended(item.item_id, stage, item)


def test_processing_starts_where_the_time_says_not_at_80_percent():
    # The file on This computer: 56 s of encode, an upload of a second, then processing.
    time = Clock()
    clock = StageClock(now=time)
    item = record(compressed=40 * MB)
    run_stage(clock, time, item, Stage.COMPRESSING, 56.0)
    run_stage(clock, time, item, Stage.UPLOADING, 1.0)
    clock.stage_began("a", Stage.PROCESSING)
    at_start = clock.overall(item, Stage.PROCESSING, StageProgress(fraction=0.0), paused=False)
    expected_processing = 56.0 * PROCESSING_PER_ENCODE_SECOND
    assert at_start == pytest.approx(57.0 / (57.0 + expected_processing + 40 * MB / 10_000_000), rel=0.01)
    assert at_start < 0.35  # was 0.80: the longest step had 12 % of the bar

    # The server's progress drives the processing part of the bar, in step with the time it takes.
    time.now += expected_processing / 2
    halfway = clock.overall(item, Stage.PROCESSING, StageProgress(fraction=0.5), paused=False)
    assert 0.6 < halfway < 0.7


def test_the_bar_never_goes_back_when_a_stage_runs_longer_than_expected():
    time = Clock()
    clock = StageClock(now=time)
    item = record(compressed=40 * MB)
    run_stage(clock, time, item, Stage.COMPRESSING, 10.0)
    clock.stage_began("a", Stage.UPLOADING)
    time.now += 3.0
    seen = [clock.overall(item, Stage.UPLOADING, StageProgress(fraction=0.9, eta=0.3), paused=False)]
    time.now += 60.0  # stalled at 90 %: the expected upload time grows with every look
    seen.append(clock.overall(item, Stage.UPLOADING, StageProgress(fraction=0.9, eta=None), paused=False))
    time.now += 60.0
    seen.append(clock.overall(item, Stage.UPLOADING, StageProgress(fraction=0.95, eta=5.0), paused=False))
    assert seen == sorted(seen)


def test_what_one_file_took_to_process_sets_the_next_files_share():
    time = Clock()
    clock = StageClock(now=time)
    first, second = record("first", compressed=10 * MB), record("second", compressed=10 * MB)
    run_stage(clock, time, first, Stage.COMPRESSING, 20.0)
    run_stage(clock, time, first, Stage.UPLOADING, 1.0)
    run_stage(clock, time, first, Stage.PROCESSING, 10.0)  # a fast server: half an encode second per second

    run_stage(clock, time, second, Stage.COMPRESSING, 20.0)
    run_stage(clock, time, second, Stage.UPLOADING, 1.0)
    clock.stage_began("second", Stage.PROCESSING)
    learned = clock.overall(second, Stage.PROCESSING, StageProgress(fraction=0.0), paused=False)
    ratio = (PROCESSING_PER_ENCODE_SECOND + 0.5) / 2  # one measurement, blended with the starting figure
    assert learned == pytest.approx(21.0 / (21.0 + 20.0 * ratio + 1.0), rel=0.02)

    other_preset = record("other", preset="480p", compressed=10 * MB)
    run_stage(clock, time, other_preset, Stage.COMPRESSING, 20.0)
    run_stage(clock, time, other_preset, Stage.UPLOADING, 1.0)
    clock.stage_began("other", Stage.PROCESSING)
    unlearned = clock.overall(other_preset, Stage.PROCESSING, StageProgress(fraction=0.0), paused=False)
    assert unlearned < learned  # another preset makes other outputs: the starting figure still applies


def test_a_paused_file_keeps_the_fraction_it_showed():
    time = Clock()
    clock = StageClock(now=time)
    item = record()
    clock.stage_began("a", Stage.COMPRESSING)
    time.now += 30.0
    shown = clock.overall(item, Stage.COMPRESSING, StageProgress(fraction=0.53, eta=27.0), paused=False)
    clock.interrupted("a")
    time.now += 300.0
    assert clock.overall(item, Stage.COMPRESSING, StageProgress(fraction=0.4), paused=True) == shown


def test_a_slow_upload_takes_its_share_once_measured():
    # A remote server over a slow link: the upload, not the encode, is most of the wait.
    time = Clock()
    clock = StageClock(now=time)
    first = record("first", compressed=100 * MB)
    run_stage(clock, time, first, Stage.COMPRESSING, 30.0)
    run_stage(clock, time, first, Stage.UPLOADING, 100.0)  # 1 MB/s
    second = record("second", compressed=100 * MB)
    clock.stage_began("second", Stage.COMPRESSING)
    time.now += 30.0
    done_encoding = clock.overall(second, Stage.COMPRESSING, StageProgress(fraction=1.0, eta=0.0), paused=False)
    assert done_encoding < 0.3  # the upload to come is expected to take (100 MB at the learned ~5.5 MB/s)


def test_a_retried_file_starts_its_bar_again_and_stages_not_timed_are_modelled():
    time = Clock()
    clock = StageClock(now=time)
    item = record(compressed=40 * MB)
    run_stage(clock, time, item, Stage.COMPRESSING, 50.0)
    clock.stage_began("a", Stage.UPLOADING)
    assert clock.overall(item, Stage.UPLOADING, StageProgress(fraction=1.0, eta=0.0), paused=False) > 0.2
    clock.forget("a")
    # After a restart (nothing timed), a file that was processing shows the modelled share of its stages.
    resumed = clock.overall(item, Stage.PROCESSING, StageProgress(fraction=0.0), paused=False)
    assert 0.2 < resumed < 0.4
    assert clock.overall(item, Stage.DONE, StageProgress(), paused=False) == 0.0  # not a work stage
