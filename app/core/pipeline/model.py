"""What the pipeline shows the outside world: stages and per-item snapshots, as plain immutable data.

The GUI and the CLI read these (from any thread) and drive the pipeline through `PipelineControl`;
neither sees threads, ffmpeg or HTTP.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from app.core.settings import Settings


class Stage(enum.StrEnum):
    WAITING = "waiting"
    COMPRESSING = "compressing"
    UPLOADING = "uploading"
    PROCESSING = "processing"
    DOWNLOADING = "downloading"
    DONE = "done"
    FAILED = "failed"
    PAUSED = "paused"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (Stage.DONE, Stage.FAILED, Stage.CANCELLED)

    @property
    def label(self) -> str:
        return self.value.capitalize()


@dataclass(frozen=True)
class ItemSnapshot:
    """One queued file at one moment. Sizes in bytes, rates in bytes/s, times in seconds."""

    item_id: str
    source: Path
    preset: str
    stage: Stage
    stage_fraction: float  # 0..1 within the current stage
    overall_fraction: float  # 0..1 across all stages, for one honest progress bar
    size_before: int | None
    size_after: int | None  # compressed size, once known (an estimate while compressing)
    rate: float | None  # bytes/s of the current stage (encode speed in source bytes/s while compressing)
    eta: float | None  # seconds left in the current stage, None when unknown
    error: str | None = None  # plain words, naming the file and the cause
    error_type: str | None = None
    job_id: str | None = None
    results_dir: Path | None = None
    encoder: str | None = None  # e.g. "libx264" or "h264_nvenc", shown to the user
    paused_stage: Stage | None = None  # where a paused item will continue
    sent_while_compressing: int | None = None  # output bytes already uploaded during the encode (overlap)
    # The current stage's progress cannot be measured (an encode of a source whose duration is unknown):
    # stage_fraction is then 0 and a progress bar should show "busy" rather than a percentage.
    progress_unknown: bool = False
    # Started, but waiting its turn (for a free slot in the queue, or for the encoder while another file
    # compresses): shown as "Queued" rather than as work at 0 %.
    queued: bool = False


@dataclass(frozen=True)
class QueueTotals:
    items: int
    active: int
    done: int
    failed: int
    bytes_done: int
    bytes_total: int
    rate: float | None
    eta: float | None


def totals_of(items: Sequence[ItemSnapshot], compress_seconds: Mapping[str, float] | None = None) -> QueueTotals:
    """The status bar's figures for a list of snapshots (plain arithmetic: any thread may compute it).

    `compress_seconds` (item id -> the estimated time to compress it) lets the time left count the files
    started but still queued; without it, they are left out.
    """
    active = [i for i in items if i.stage in _ACTIVE]
    sized = [i for i in items if i.size_before]
    rates = [i.rate for i in active if i.rate and i.stage is Stage.UPLOADING]
    return QueueTotals(
        items=len(items),
        active=len(active),
        done=sum(1 for i in items if i.stage is Stage.DONE),
        failed=sum(1 for i in items if i.stage is Stage.FAILED),
        bytes_done=sum(int((i.size_before or 0) * i.overall_fraction) for i in sized),
        bytes_total=sum(i.size_before or 0 for i in sized),
        rate=sum(rates) if rates else None,
        eta=queue_time_left(items, compress_seconds or {}),
    )


def queue_time_left(items: Sequence[ItemSnapshot], compress_seconds: Mapping[str, float]) -> float | None:
    """Seconds until the files being worked on or queued are through what is known of their work.

    One file compresses at a time, so the encoder's line is the encode under way plus every queued file's
    estimated encode, one after another; the other files' stages run beside it. The time left is the
    longer of the two. It is unknown (None) while a queued file has no estimate yet: a figure that left it
    out would say "a few seconds" with minutes of work waiting, the lie this replaces.
    """
    queued = [i for i in items if i.queued and not i.stage.finished]
    working = [i for i in items if i.stage in _ACTIVE and not i.queued]
    if not queued and not working:
        return None
    if any(i.item_id not in compress_seconds for i in queued):
        return None
    encoder_line = sum(compress_seconds[i.item_id] for i in queued)
    beside = 0.0
    for item in working:
        if item.eta is None:
            continue
        if item.stage is Stage.COMPRESSING:
            encoder_line += item.eta
        else:
            beside = max(beside, item.eta)
    known = queued or any(i.eta is not None for i in working)
    return max(encoder_line, beside) if known else None


_ACTIVE = (Stage.COMPRESSING, Stage.UPLOADING, Stage.PROCESSING, Stage.DOWNLOADING)


class PipelineControl(Protocol):
    """The whole surface the GUI uses. The GUI calls it through the bridge's command thread, never from its
    own (a call may wait on a lock or the queue store briefly); the work itself runs on the core's threads."""

    def add(self, paths: Sequence[Path], preset: str | None = None, output_dir: Path | None = None) -> list[str]:
        """Queue files (folders are expanded to the videos inside). Bad ones are queued as FAILED with a reason."""

    def start(self, item_id: str) -> None: ...

    def pause(self, item_id: str) -> None: ...

    def resume(self, item_id: str) -> None: ...

    def cancel(self, item_id: str) -> None: ...

    def retry(self, item_id: str) -> None: ...

    def remove(self, item_id: str) -> None: ...

    def set_preset(self, item_id: str, preset: str) -> None: ...

    def snapshot(self) -> list[ItemSnapshot]: ...

    def totals(self) -> QueueTotals: ...

    def shutdown(self, wait: bool = True) -> None: ...

    def apply_settings(self, settings: Settings) -> None:
        """Take changed settings (parallel uploads, speed limit, part size …) now, without a restart."""
