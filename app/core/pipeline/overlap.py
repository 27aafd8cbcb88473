"""Compress-while-upload for the pipeline: which encodes may stream, and the uploads started while they run.

An encode whose output is a fragmented MP4/M4A is uploaded while ffmpeg writes it, so the creator waits
for the slower of the two instead of their sum. The compress stage starts the upload when ffmpeg starts
and ends it (finished, or abandoned on failure, cancel or quit; a pause suspends both, the upload keeping
its parts); the upload stage then only waits for the rest of the parts. A streaming upload that fails
for a reason of its own (say the encoder overran the declared size) is not the item's failure: the upload
stage sends the finished file the ordinary way.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from app.core.media.estimate import size_upper_bound
from app.core.media.info import MediaInfo
from app.core.media.plan import OutputPlan
from app.core.transfer.engine import UploadEngine
from app.core.transfer.growing import GrowingFile
from app.core.transfer.growing_upload import STREAMING_PART_SIZE
from app.core.transfer.handle import UploadHandle

log = logging.getLogger(__name__)

# Muxers that write a fragmented file strictly front to back (build_compress_args sets the movflags).
_STREAMABLE_MUXERS = {"mp4", "ipod"}
# Declaring more than the estimate's cap costs nothing but quota held until complete; running past the
# declared size would cost the overlap (the file then goes up again after the encode).
_BOUND_MARGIN = 1.25


def streaming_bound(plan: OutputPlan, info: MediaInfo, min_bytes: int = 2 * STREAMING_PART_SIZE) -> int | None:
    """The size to declare for uploading this encode while it runs, or None when it should not stream:
    a container that is rewritten at the end, an unknown duration (no bound), or an output so small that
    one part holds most of it (nothing to overlap: ``min_bytes`` expected at least)."""
    if plan.kind not in ("video", "audio") or plan.muxer not in _STREAMABLE_MUXERS or not info.duration_s:
        return None
    expected = plan.expected_bitrate_bps / 8 * info.duration_s
    if expected < min_bytes:
        return None
    return int(size_upper_bound(plan, info) * _BOUND_MARGIN)


class StreamingUploads:
    """The uploads started during an item's encode, until its upload stage takes them over."""

    def __init__(self, engine: UploadEngine, min_bytes: int = 2 * STREAMING_PART_SIZE) -> None:
        self.engine = engine
        self.min_bytes = min_bytes
        self._lock = threading.Lock()
        self._by_item: dict[str, UploadHandle] = {}
        self._paused: set[str] = set()  # items whose encode is paused: their upload waits with it

    def bound(self, plan: OutputPlan, info: MediaInfo) -> int | None:
        return streaming_bound(plan, info, self.min_bytes)

    def start(self, item_id: str, path: Path, upper_bound: int) -> GrowingFile:
        growing = GrowingFile(path)
        handle = self.engine.submit_growing(path, growing, upper_bound)
        with self._lock:
            previous = self._by_item.pop(item_id, None)
            self._by_item[item_id] = handle
            if item_id in self._paused:  # paused before ffmpeg got to its output
                handle.pause()
        if previous is not None:
            previous.cancel()
        log.info("%s: uploading while it is encoded (up to %d bytes declared)", path.name, upper_bound)
        return growing

    def sent(self, item_id: str) -> int | None:
        """Bytes of the item's output the streaming upload has sent so far; None when it has none."""
        with self._lock:
            handle = self._by_item.get(item_id)
        if handle is None:
            return None
        progress = self.engine.progress.file_snapshot(handle.file_id)
        return progress.done if progress is not None else None

    def pause(self, item_id: str) -> None:
        """The item's encode is suspended: its upload sends nothing meanwhile (parts on the wire are put
        aside and sent again on resume) and, waiting on purpose, is never taken for a stalled one."""
        with self._lock:
            self._paused.add(item_id)
            handle = self._by_item.get(item_id)
            if handle is not None:
                handle.pause()

    def resume(self, item_id: str) -> None:
        with self._lock:
            self._paused.discard(item_id)
            handle = self._by_item.get(item_id)
            if handle is not None:
                handle.resume()

    def let_go(self, item_id: str) -> None:
        """The item's encode stopped early (its GrowingFile was abandoned): forget its upload, resumed if it
        was paused, so that it sees how its writer ended and ends the same way."""
        with self._lock:
            was_paused = item_id in self._paused
            self._paused.discard(item_id)
            handle = self._by_item.pop(item_id, None)
        if handle is not None and was_paused:
            handle.resume()

    def take(self, item_id: str) -> UploadHandle | None:
        with self._lock:
            self._paused.discard(item_id)
            return self._by_item.pop(item_id, None)

    def drop(self, item_id: str) -> None:
        """Forget an item's streaming upload and abort it on the server."""
        handle = self.take(item_id)
        if handle is not None:
            handle.cancel()
