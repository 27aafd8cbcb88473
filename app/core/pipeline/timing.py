"""How far along a file is, in time: each stage's share of its progress bar is that stage's expected seconds.

A fixed split (compress 40 %, upload 40 %, processing 12 %, download 8 %) jumped to 80 % as processing began
and then crawled through what is, on "This computer", most of the wait: 60 s of 1080p took 56 s to compress
and 131 s to process (bench/drop_to_results.py). Here each stage's share follows its duration for this file:
what a finished stage took, what the stage under way has taken plus what it has left (its own estimate,
or the server's progress for processing), and for the stages still to come what this session has learned
(upload and download rates, processing seconds per second of the client's encode of the same preset),
starting from figures measured here. The bar never goes back: when a stage runs longer than expected, it
slows rather than falls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.core.pipeline.live import StageProgress
from app.core.pipeline.model import Stage
from app.core.pipeline.store import ItemRecord

WORK_STAGES = (Stage.COMPRESSING, Stage.UPLOADING, Stage.PROCESSING, Stage.DOWNLOADING)

# Starting figures, until this session has measured its own (bench/drop_to_results.py, this 2-core machine):
# the server's processing took 2.35 s per second of the client's encode (131.3 s / 55.9 s for 60 s of
# 1080p, preset 1080p, This computer); an encode turns about 2 MB/s of source into its output; transfers
# are taken at 10 MB/s, slow for the built-in server (which then takes a sliver of the bar, as it should)
# and a fair broadband figure for a remote one.
PROCESSING_PER_ENCODE_SECOND = 2.35
ENCODE_SOURCE_BYTES_PER_S = 2_000_000
TRANSFER_BYTES_PER_S = 10_000_000
_LEARNING = 0.5  # weight of the newest measurement in each learned figure (a moving average)
_SHORTEST_MEASURED_S = 0.5  # stages quicker than this say nothing reliable about a rate
_LEAST_SERVER_FRACTION = 0.05  # below this, the server's progress is too coarse to extrapolate from


@dataclass
class _ItemTimes:
    stage: Stage | None = None  # the stage under way, and when it began (monotonic)
    began: float = 0.0
    took: dict[Stage, float] = field(default_factory=dict)  # stages finished in this session
    shown: float = 0.0  # the highest overall fraction shown so far: the bar never goes back


class StageClock:
    """Times each item's stages and turns them into one overall fraction. Thread-safe."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._items: dict[str, _ItemTimes] = {}
        self._upload_rate = float(TRANSFER_BYTES_PER_S)
        self._download_rate = float(TRANSFER_BYTES_PER_S)
        self._processing_ratio: dict[str, float] = {}  # preset -> processing seconds per encode second

    # -- what the drivers report ------------------------------------------------------------------
    def stage_began(self, item_id: str, stage: Stage) -> None:
        with self._lock:
            times = self._items.setdefault(item_id, _ItemTimes())
            times.stage, times.began = stage, self._now()

    def stage_ended(self, item_id: str, stage: Stage, record: ItemRecord) -> None:
        """`stage` finished for `record` (as journaled after it): remember what it took, and learn from it."""
        with self._lock:
            times = self._items.get(item_id)
            if times is None or times.stage is not stage:
                return
            took = self._now() - times.began
            times.took[stage] = took
            times.stage = None
            self._learn(stage, took, times, record)

    def interrupted(self, item_id: str) -> None:
        """The stage under way stopped unfinished (paused, failed, a quit): its time so far is not a duration."""
        with self._lock:
            times = self._items.get(item_id)
            if times is not None:
                times.stage = None

    def forget(self, item_id: str) -> None:
        """The item starts over (retried) or left the queue."""
        with self._lock:
            self._items.pop(item_id, None)

    # -- what the snapshot shows ------------------------------------------------------------------
    def overall(self, record: ItemRecord, working: Stage, progress: StageProgress, *, paused: bool) -> float:
        """0..1 across the file's stages, `working` being the stage it is in (or was paused in)."""
        if working not in WORK_STAGES:
            return 0.0
        with self._lock:
            times = self._items.setdefault(record.item_id, _ItemTimes())
            if paused and times.shown:
                return times.shown  # where it stood when it stopped
            expected = self._expected(record, working, progress, times)
            index = WORK_STAGES.index(working)
            before = sum(expected[stage] for stage in WORK_STAGES[:index])
            fraction = max(0.0, min(1.0, progress.fraction or 0.0))
            total = sum(expected.values())
            overall = (before + expected[working] * fraction) / total if total > 0 else 0.0
            times.shown = max(times.shown, min(overall, 1.0))
            return times.shown

    # -- the model --------------------------------------------------------------------------------
    def _expected(
        self, record: ItemRecord, working: Stage, progress: StageProgress, times: _ItemTimes
    ) -> dict[Stage, float]:
        expected: dict[Stage, float] = {}
        for stage in WORK_STAGES:
            if stage in times.took:
                expected[stage] = times.took[stage]
            elif stage is working:
                expected[stage] = self._under_way(record, stage, progress, times, expected)
            else:
                expected[stage] = self._to_come(record, stage, expected)
        return expected

    def _under_way(
        self,
        record: ItemRecord,
        stage: Stage,
        progress: StageProgress,
        times: _ItemTimes,
        so_far: dict[Stage, float],
    ) -> float:
        modelled = self._to_come(record, stage, so_far)
        if times.stage is not stage:
            return modelled  # not timed in this session (a paused item shown before it runs again)
        elapsed = self._now() - times.began
        if progress.eta is not None:
            return elapsed + progress.eta
        fraction = progress.fraction or 0.0
        if fraction >= _LEAST_SERVER_FRACTION:
            return elapsed / fraction  # the server's progress (processing), or any stage without an eta
        return max(modelled, elapsed)

    def _to_come(self, record: ItemRecord, stage: Stage, so_far: dict[Stage, float]) -> float:
        source = record.size_before or 0
        output = record.compressed_size or source
        if stage is Stage.COMPRESSING:
            return source / ENCODE_SOURCE_BYTES_PER_S
        if stage is Stage.UPLOADING:
            return output / self._upload_rate
        if stage is Stage.PROCESSING:
            encode = so_far.get(Stage.COMPRESSING) or source / ENCODE_SOURCE_BYTES_PER_S
            return encode * self._processing_ratio.get(record.preset, PROCESSING_PER_ENCODE_SECOND)
        return output / self._download_rate  # the results are about the size of the upload

    def _learn(self, stage: Stage, took: float, times: _ItemTimes, record: ItemRecord) -> None:
        if took < _SHORTEST_MEASURED_S:
            return
        output = record.compressed_size or record.size_before or 0
        if stage is Stage.UPLOADING and output:
            self._upload_rate = _blend(self._upload_rate, output / took)
        elif stage is Stage.DOWNLOADING and output:
            self._download_rate = _blend(self._download_rate, output / took)
        elif stage is Stage.PROCESSING:
            encode = times.took.get(Stage.COMPRESSING)
            if encode and encode >= _SHORTEST_MEASURED_S:
                ratio = self._processing_ratio.get(record.preset, PROCESSING_PER_ENCODE_SECOND)
                self._processing_ratio[record.preset] = _blend(ratio, took / encode)


def _blend(learned: float, measured: float) -> float:
    return (1 - _LEARNING) * learned + _LEARNING * measured
