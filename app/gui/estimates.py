"""Size and time estimates for files that have not started, computed off the main thread.

Probing runs ffprobe and the first estimate runs a short benchmark encode, so both happen on a small pool
of their own (two threads: fifty dropped files do not start fifty ffprobes, nor starve the other background
work), and each answer is handed to the queue model on the main thread.
"""

from __future__ import annotations

import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QObject

from app.core.media import MediaError, choose_encoder, estimate, get_preset, probe
from app.core.media.estimate import Estimate
from app.core.media.info import MediaInfo
from app.core.pipeline.model import ItemSnapshot, Stage
from app.gui.bridge import Bridge
from app.gui.plain_errors import plain_words
from app.gui.queue_model import QueueModel

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=512)
def _probe_cached(path: Path, size: int, mtime_ns: int) -> MediaInfo:
    # Keyed on size and mtime too, so a file replaced under the same name is probed again.
    return probe(path)


def estimate_file(path: Path, preset_name: str, allow_hardware: bool) -> Estimate:
    """Probe `path` and estimate its compressed size and encode time with `preset_name` (blocking)."""
    stat = path.stat()
    info = _probe_cached(path, stat.st_size, stat.st_mtime_ns)
    preset = get_preset(preset_name)
    encoder = choose_encoder(allow_hardware=allow_hardware) if preset.kind == "video" else None
    return estimate(preset, info, encoder)


def not_started(item: ItemSnapshot) -> bool:
    """Waiting for the user's Start (a started file waiting its turn is queued, not this)."""
    if item.stage is Stage.WAITING:
        return not item.queued
    return item.stage is Stage.PAUSED and item.paused_stage in (None, Stage.WAITING)


def wants_estimate(item: ItemSnapshot) -> bool:
    """Only files that have not started compressing (queued ones included): afterwards the real figures are
    on screen."""
    if item.size_after is not None:
        return False
    return item.queued or not_started(item)


class EstimateService(QObject):
    def __init__(self, bridge: Bridge, model: QueueModel, *, allow_hardware: bool, parent: QObject | None = None):
        super().__init__(parent)
        self._bridge = bridge
        self._model = model
        self._allow_hardware = allow_hardware
        self._asked: set[tuple[str, str, bool]] = set()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reeldrop-estimate")
        model.modelReset.connect(self.refresh)
        model.rowsInserted.connect(self.refresh)
        model.dataChanged.connect(self.refresh)

    def set_allow_hardware(self, allowed: bool) -> None:
        """The encoder changes the time estimate; ask again for everything still waiting."""
        if allowed != self._allow_hardware:
            self._allow_hardware = allowed
            self.refresh()

    def refresh(self, *_args: object) -> None:
        for item in self._model.items():
            key = (item.item_id, item.preset, self._allow_hardware)
            if key in self._asked or not item.preset or not wants_estimate(item):
                continue
            self._asked.add(key)
            self._bridge.run(
                estimate_file,
                item.source,
                item.preset,
                self._allow_hardware,
                on_done=functools.partial(self._model.set_estimate, item.item_id, item.preset),
                on_error=functools.partial(self._failed, item.item_id, item.preset),
                executor=self._pool,
            )

    def _failed(self, item_id: str, preset: str, error: BaseException) -> None:
        if not isinstance(error, MediaError | OSError):
            log.warning("Could not estimate %s: %s", item_id, error, exc_info=error)
        self._model.set_estimate(item_id, preset, plain_words(error))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
