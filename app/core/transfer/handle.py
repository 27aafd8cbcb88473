"""What a caller holds for one submitted file: its state, pause/resume/cancel, and the final result.

Everything here is thread-safe and never calls back into the caller's thread: the GUI reads ``state``
and the engine's progress snapshots on its timer, the CLI waits on ``result(timeout)``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from app.core.transfer.control import TransferControl


class UploadStatus(StrEnum):
    QUEUED = "queued"
    PREPARING = "preparing"  # checking the journal, asking the server for an upload or its parts
    UPLOADING = "uploading"
    PAUSED = "paused"
    COMPLETING = "completing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the engine shut down (quit, Ctrl-C): the journal resumes it next time

    @property
    def finished(self) -> bool:
        return self in (UploadStatus.COMPLETED, UploadStatus.FAILED, UploadStatus.CANCELLED, UploadStatus.INTERRUPTED)


class UploadError(Exception):
    """An upload did not complete. ``str()`` names the file and the cause, ready to show to a user."""

    def __init__(self, path: Path | str, cause: str, *, resumable: bool = False) -> None:
        super().__init__(f"{path}: {cause}")
        self.path = Path(path)
        self.cause = cause
        self.resumable = resumable  # the journal and the server still hold it: running again resumes


class UploadCancelled(UploadError):
    """The user cancelled; the server's upload was aborted."""


class UploadInterrupted(UploadError):
    """The engine shut down first; the journal keeps the upload for next time."""


@dataclass(frozen=True)
class UploadResult:
    path: Path
    upload_id: str
    s3_key: str
    size: int
    sha256: str
    method: str  # "POST" or "MULTIPART"
    part_count: int
    parts_reused: int  # parts S3 already held from an earlier run (resume)
    bytes_reused: int
    bytes_sent: int  # bytes put on the wire, retries included
    seconds: float
    # Which integrity check actually ran, in words (integrity_summary): what the store confirmed of each
    # part, beyond the size the server checks at complete.
    integrity: str = ""


def integrity_summary(confirmed: Mapping[str, int], part_count: int, reused: int = 0) -> str:
    """``confirmed``: how many parts sent in this run the store confirmed, by check (CRC32C, ETag-MD5)."""
    sent = part_count - reused
    earlier = f"; {reused} stored by an earlier run, matched by size and ETag" if reused else ""
    done = sum(confirmed.values())
    if sent <= 0:
        return f"all {part_count} parts stored by an earlier run, matched by size and ETag; size checked at complete"
    if done == sent and len(confirmed) == 1:
        (check,) = confirmed
        return f"{check} of every part sent, confirmed by the store{earlier}; size checked at complete"
    if done:
        kinds = ", ".join(f"{count} by {check}" for check, count in sorted(confirmed.items()))
        if done == sent:
            return f"every part sent confirmed by the store ({kinds}){earlier}; size checked at complete"
        return f"{done} of {sent} parts sent confirmed by the store ({kinds}), the rest by size only{earlier}"
    return (
        "the store confirmed no part's checksum (it echoed no CRC32C, and its ETags are not MD5s of the parts):"
        f" only sizes were checked{earlier}"
    )


class UploadHandle:
    """One file in the engine. ``file_id`` keys it in the engine's progress snapshots."""

    def __init__(self, file_id: int, path: Path, size: int) -> None:
        self.file_id = file_id
        self.path = path
        self.size = size
        self.control = TransferControl()
        self._future: Future[UploadResult] = Future()
        self._lock = threading.Lock()
        self._state = UploadStatus.QUEUED
        self._cancel_requested = threading.Event()
        self.upload_id: str | None = None
        self.streamed = False
        """Uploaded while its file was still being written (see ``UploadEngine.submit_growing``)."""

    # -- what callers read ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.name

    @property
    def state(self) -> UploadStatus:
        with self._lock:
            if self._state is UploadStatus.UPLOADING and self.control.paused:
                return UploadStatus.PAUSED
            return self._state

    @property
    def error(self) -> str | None:
        """The failure, naming the file and the cause; None while running or after success."""
        if not self._future.done():
            return None
        error = self._future.exception()
        return None if error is None else str(error)

    def done(self) -> bool:
        return self._future.done()

    @property
    def future(self) -> Future[UploadResult]:
        """For ``concurrent.futures.wait``/``as_completed`` over many handles; only the engine sets it."""
        return self._future

    def result(self, timeout: float | None = None) -> UploadResult:
        """The result; raises UploadError (or a subclass), or TimeoutError if not finished in time."""
        return self._future.result(timeout)

    # -- what callers do --------------------------------------------------------------------------
    def pause(self) -> None:
        """Stop sending (parts in flight are interrupted and sent again on resume)."""
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def cancel(self) -> None:
        """Stop for good; the server's multipart upload is aborted and nothing is left behind."""
        self._cancel_requested.set()
        self.control.cancel()
        if self._state is UploadStatus.QUEUED:
            self._finish_error(UploadCancelled(self.path, "cancelled before it started"))

    # -- for the engine ---------------------------------------------------------------------------
    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested.is_set()

    def set_state(self, state: UploadStatus) -> None:
        with self._lock:
            if not self._state.finished:
                self._state = state

    def finish_ok(self, result: UploadResult) -> None:
        with self._lock:
            if self._future.done():
                return
            self._state = UploadStatus.COMPLETED
            self._future.set_result(result)

    def _finish_error(self, error: UploadError) -> None:
        state = UploadStatus.FAILED
        if isinstance(error, UploadCancelled):
            state = UploadStatus.CANCELLED
        elif isinstance(error, UploadInterrupted):
            state = UploadStatus.INTERRUPTED
        with self._lock:
            if self._future.done():
                return
            self._state = state
            self._future.set_exception(error)

    def finish_error(self, error: UploadError) -> None:
        self._finish_error(error)

    def __repr__(self) -> str:
        return f"<UploadHandle {self.file_id} {self.path.name} {self.state}>"
