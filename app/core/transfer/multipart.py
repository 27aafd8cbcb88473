"""One file's multipart upload: scan ahead, sign in batches, send parts on the shared pool, journal each.

The coordinating thread reads the file once, in order (FileScanner: each part's checksum plus the
whole-file SHA-256), and keeps at most ``2 × concurrency`` of its parts signed and queued on the shared
connection pool. That bound keeps the second read of each part (while it is sent) in the page cache and
the memory flat, and lets one backend call sign a batch of parts. Each part S3 stores is journaled before
the next batch is signed, so a SIGKILL loses at most the parts in flight.

Pause interrupts the parts in flight; they are queued again, with their URLs, for after resume. Cancel
interrupts them and aborts the upload on the server. A part that fails for good stops the file: the
others are interrupted, and the upload is aborted when the cause is final (a 4xx, a changed file) or
kept for a later resume when it is not (the network stayed down through every retry).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from app.core.transfer.checksums import PartChecksum
from app.core.transfer.context import EngineContext, FileInFlight, plain
from app.core.transfer.control import TransferCancelled, TransferInterrupted, TransferPaused
from app.core.transfer.handle import (
    UploadCancelled,
    UploadError,
    UploadInterrupted,
    UploadResult,
    UploadStatus,
    integrity_summary,
)
from app.core.transfer.part_bodies import FileScanner
from app.core.transfer.part_sender import PartTask, send_part
from app.core.transfer.planning import Part, split
from app.core.transfer.resume import MultipartStart, abort_quietly

log = logging.getLogger(__name__)

POLL = 0.25
DRAIN_TIMEOUT = 120.0


class FileChangedOnResume(Exception):
    """A part the journal recorded no longer has the same checksum: the file was edited in place."""


class MultipartUpload:
    def __init__(self, ctx: EngineContext, job: FileInFlight, start: MultipartStart, size: int) -> None:
        self.ctx = ctx
        self.job = job
        self.start = start
        self.plan = split(size, start.part_size)
        self.outstanding: dict[Future[str], PartTask] = {}
        self.requeued: deque[PartTask] = deque()
        self.finished: dict[int, tuple[str, PartChecksum]] = {}
        self.failure: BaseException | None = None
        self.parts_reused = 0
        self.confirmed: Counter[str] = Counter()  # parts sent whose check the store's answer confirmed
        self.bytes_reused = 0

    @property
    def window(self) -> int:
        return 2 * self.ctx.concurrency

    def run(self, started_at: float) -> UploadResult:
        handle = self.job.handle
        handle.upload_id = self.start.upload_id
        handle.set_state(UploadStatus.UPLOADING)
        # No control for the scanner: a pause must not end its generator; the loop checks between parts.
        scanner = FileScanner(self.job.path, self.plan.parts, algorithm=self.start.algorithm)
        try:
            self._send_all(iter(scanner))
        except (UploadCancelled, UploadInterrupted):
            raise
        except FileChangedOnResume:
            self._interrupt_in_flight(final=False)
            raise
        except BaseException:
            self._interrupt_in_flight(final=True)
            raise
        return self._complete(scanner.sha256_hex, started_at)

    def _complete(self, sha256: str, started_at: float) -> UploadResult:
        """Every part is stored: complete on the server (with the file's size and SHA-256), check its answer,
        close the journal entry."""
        ctx, handle = self.ctx, self.job.handle
        handle.set_state(UploadStatus.COMPLETING)
        parts = [(n, etag, checksum.crc32c) for n, (etag, checksum) in sorted(self.finished.items())]
        answer = ctx.client.complete(self.start.upload_id, parts, sha256=sha256, size=self.plan.size)
        self._check_completion(answer, sha256)
        ctx.journal.mark_completed(self.start.upload_id, sha256=sha256)
        return UploadResult(
            path=handle.path,
            upload_id=self.start.upload_id,
            s3_key=answer.get("s3_key") or self.start.s3_key,
            size=self.plan.size,
            sha256=sha256,
            method="MULTIPART",
            part_count=self.plan.part_count,
            parts_reused=self.parts_reused,
            bytes_reused=self.bytes_reused,
            bytes_sent=self.job.wire.value,
            seconds=time.monotonic() - started_at,
            integrity=integrity_summary(self.confirmed, self.plan.part_count, self.parts_reused),
        )

    def _check_completion(self, answer: dict[str, Any], sha256: str) -> None:
        size = answer.get("size")
        if size is not None and int(size) != self.plan.size:
            raise UploadError(self.job.path, f"the server stored {size} bytes, not {self.plan.size}")
        stored = answer.get("sha256")
        if stored and stored.lower() != sha256:
            raise UploadError(self.job.path, "the server recorded a different SHA-256 than the one sent")

    # -- the part loop ----------------------------------------------------------------------------
    def _send_all(self, scan: Iterator[tuple[Part, PartChecksum] | PartTask | None]) -> None:
        control = self.job.handle.control
        scan_done = False
        while True:
            self._raise_if_told()
            if not control.paused and len(self.outstanding) <= self.ctx.concurrency:
                scan_done = self._refill(scan, scan_done)
            if scan_done and not self.outstanding and not self.requeued:
                return
            if not self.outstanding:
                if control.paused:
                    control.wait_until_resumed(POLL)  # nothing in flight: just wait, bounded
                continue
            self._settle_some()
            if self.failure is not None:
                raise self.failure

    def _settle_some(self) -> None:
        done, _ = wait(list(self.outstanding), timeout=POLL, return_when=FIRST_COMPLETED)
        for future in done:
            self._settle(future, self.outstanding.pop(future))

    def _raise_if_told(self) -> None:
        if self.job.handle.cancel_requested:
            self._interrupt_in_flight(final=True)
            abort_quietly(self.ctx, self.start.upload_id, "cancelled by the user")
            raise UploadCancelled(self.job.path, "cancelled; the upload was aborted on the server")
        if self.ctx.stopping.is_set():
            self._interrupt_in_flight(final=False)
            raise UploadInterrupted(
                self.job.path, "interrupted; run the upload again to resume it from the journal", resumable=True
            )

    def _interrupt_in_flight(self, *, final: bool) -> None:
        """Stop this file's parts in flight (each at its next block) and wait for them to hand back."""
        control = self.job.handle.control
        if not self.outstanding:
            return
        was_paused = control.paused
        if final:
            control.cancel()
        else:
            control.pause()
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while self.outstanding and time.monotonic() < deadline:
            self._settle_some()
        if not final and not was_paused and not self.ctx.stopping.is_set():
            control.resume()

    def _refill(self, scan: Iterator[tuple[Part, PartChecksum] | PartTask | None], scan_done: bool) -> bool:
        batch: list[PartTask] = []
        while len(self.outstanding) + len(batch) < self.window and not self.job.handle.control.stop_event.is_set():
            if self.requeued:
                batch.append(self.requeued.popleft())
                continue
            if scan_done:
                break
            try:
                item = next(scan)
            except StopIteration:
                scan_done = True
                break
            if item is None:  # a growing file: the next part is not written yet
                break
            if isinstance(item, PartTask):  # a growing file's lead part, sent as it is written
                batch.append(item)
                continue
            part, checksum = item
            if not self._reuse(part, checksum):
                batch.append(PartTask(part, checksum))
        unsigned = {task.part.number: task.sign_fields for task in batch if task.signed is None}
        if unsigned:
            signed = self.ctx.client.sign_parts(self.start.upload_id, unsigned)
            by_number = {item.part_number: item for item in signed}
            for task in batch:
                if task.signed is None:
                    task.signed = by_number[task.part.number]
        for task in batch:
            future = self.ctx.parts_pool.submit(
                send_part, self.ctx, self.job, self.start.upload_id, task, self.plan.part_count
            )
            self.outstanding[future] = task
        return scan_done

    def _reuse(self, part: Part, checksum: PartChecksum) -> bool:
        """True if S3 already holds this part from an earlier run (and it is still this file's data)."""
        journaled = self.start.reusable.get(part.number)
        if journaled is None:
            return False
        if journaled.checksum != str(checksum):
            if journaled.checksum.partition(":")[0] == checksum.algorithm.value:
                raise FileChangedOnResume(f"part {part.number} differs from the part uploaded before")
            return False  # recorded with another algorithm: cannot compare, send it again
        self.finished[part.number] = (journaled.etag, checksum)
        self.parts_reused += 1
        self.bytes_reused += part.length
        self.ctx.progress.commit_part(self.job.handle.file_id, part.number, part.length)
        return True

    def _settle(self, future: Future[str], task: PartTask) -> None:
        try:
            etag = future.result()
        except TransferPaused:
            self.requeued.append(task)  # its URL stays valid (or is re-signed on 403)
            return
        except TransferCancelled:
            return
        except TransferInterrupted:
            return
        except Exception as error:  # a part failed for good: the file stops
            if self.failure is None:
                self.failure = error
                log.warning("%s: %s", self.job.path, plain(error))
            return
        assert task.checksum is not None
        self._store(task, etag, task.checksum)

    def _store(self, task: PartTask, etag: str, checksum: PartChecksum) -> None:
        """S3 holds this part: journal it, count it done."""
        number = task.part.number
        size = task.part.length
        self.ctx.journal.record_part(self.start.upload_id, number, etag=etag, size=size, checksum=str(checksum))
        self.ctx.progress.commit_part(self.job.handle.file_id, number, size)
        self.finished[number] = (etag, checksum)
        if task.confirmed_by is not None:
            self.confirmed[task.confirmed_by] += 1
        count, name = self.plan.part_count, self.job.name
        log.debug("%s: part %d of %d stored (%d attempt(s))", name, number, count, task.attempts)
