"""The upload engine: many files, one connection budget, one bandwidth limit, resumable from a journal.

    engine = UploadEngine(client, journal, concurrency=4, bandwidth_limit=None)
    handle = engine.submit("talk.mp4")          # runs in the background
    engine.snapshot()                            # TransferSnapshot of every file, from any thread
    handle.pause(); handle.resume(); handle.cancel()
    result = handle.result(timeout=...)          # UploadResult, or raises UploadError naming file + cause
    engine.shutdown()                            # interrupts what runs; the journal resumes it next time

Threads: one small pool coordinates files (journal, presign, scan, sign, complete), and one pool that
lets ``concurrency`` tasks at a time send the parts and POSTs of every file — that pool *is* the global
connection budget, and one pooled requests.Session serves it. ``set_concurrency`` widens or narrows both
pools while uploads run (see app.core.gated_pool). Files are independent: one failing never stops the
others. Small files go in one presigned POST, large ones in multipart parts (the server decides; files
above resume.RESUMABLE_UPLOAD_ABOVE ask it for parts, so that an interrupted upload resumes).
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

from app.core.api import BackendClient, BackendError
from app.core.gated_pool import GatedPool
from app.core.settings import MAX_CONCURRENCY
from app.core.source_file import check_source
from app.core.transfer.checksums import ChecksumAlgorithm
from app.core.transfer.clock import SYSTEM_CLOCK, Clock
from app.core.transfer.context import EngineContext, FileInFlight, plain
from app.core.transfer.failures import describe, is_resumable
from app.core.transfer.fingerprint import normalise_path
from app.core.transfer.growing import GrowingFile
from app.core.transfer.growing_upload import StreamingUpload, start_streaming
from app.core.transfer.handle import (
    UploadError,
    UploadHandle,
    UploadInterrupted,
    UploadResult,
    UploadStatus,
)
from app.core.transfer.journal import Journal, UploadState
from app.core.transfer.multipart import FileChangedOnResume, MultipartUpload
from app.core.transfer.post_upload import PostUpload
from app.core.transfer.progress import TransferSnapshot, TransferTracker
from app.core.transfer.resume import AlreadyUploaded, PostStart, abort_quietly, prepare
from app.core.transfer.retry import BackoffPolicy
from app.core.transfer.stall import StallWatchdog
from app.core.transfer.throttle import Throttle
from app.core.transfer.transport import S3Transport

log = logging.getLogger(__name__)

DEFAULT_STALL_TIMEOUT = 30.0


class UploadEngine:
    def __init__(
        self,
        client: BackendClient,
        journal: Journal,
        *,
        concurrency: int = 4,
        bandwidth_limit: float | None = None,
        part_size: int | None = None,
        stall_timeout: float = DEFAULT_STALL_TIMEOUT,
        response_timeout: float | None = None,
        backend_id: str | None = None,
        policy: BackoffPolicy | None = None,
        checksum: ChecksumAlgorithm | str = ChecksumAlgorithm.CRC32C,
        max_active_files: int | None = None,
        sleep: Callable[[float], None] | None = None,
        rng: Callable[[float, float], float] = random.uniform,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """``part_size`` is a preference the server may round; ``stall_timeout`` is how long a part may
        move no bytes before it is retried; ``backend_id`` keys the journal (default: the server URL).
        ``sleep`` and ``rng`` are the backoff's, injectable for tests."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        # How far set_concurrency may go: the settings' maximum (the pools start threads only as work comes).
        self.max_concurrency = max(MAX_CONCURRENCY, concurrency)
        self.throttle = Throttle(bandwidth_limit, clock=clock)
        self.progress = TransferTracker(clock=clock)
        self.watchdog = StallWatchdog(stall_timeout, clock=clock).start()
        # As many pooled connections as the budget may ever allow: a raised budget then reuses connections
        # instead of opening (and discarding) extra ones. Idle slots cost nothing; urllib3 opens lazily.
        transport = S3Transport(
            pool_size=self.max_concurrency,
            send_timeout=stall_timeout,
            response_timeout=response_timeout or stall_timeout,
        )
        self._ctx = EngineContext(
            client=client,
            journal=journal,
            backend_id=backend_id or client.base_url,
            transport=transport,
            throttle=self.throttle,
            progress=self.progress,
            watchdog=self.watchdog,
            policy=policy or BackoffPolicy(),
            parts_pool=GatedPool(concurrency, most=self.max_concurrency, thread_name_prefix="reeldrop-part"),
            concurrency=concurrency,
            part_size=part_size,
            checksum_algorithm=ChecksumAlgorithm(checksum),
            sleep=sleep,
            rng=rng,
        )
        # Files follow the budget unless told otherwise: with fewer files than connections, small files
        # (one POST each) could not use the budget.
        self._files_follow_budget = max_active_files is None
        files = max_active_files or concurrency
        self._files_pool = GatedPool(files, most=max(files, self.max_concurrency), thread_name_prefix="reeldrop-file")
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._handles: list[UploadHandle] = []
        self._active: dict[str, UploadHandle] = {}
        self._closed = False

    @property
    def journal(self) -> Journal:
        return self._ctx.journal

    @property
    def concurrency(self) -> int:
        """The connection budget: how many parts and POSTs may be on the wire at once."""
        return self._ctx.concurrency

    @property
    def connections_in_use(self) -> int:
        """Parts and POSTs being sent now (above ``concurrency`` for a while after it was lowered)."""
        return self._ctx.parts_pool.running

    @property
    def handles(self) -> list[UploadHandle]:
        with self._lock:
            return list(self._handles)

    # -- the public surface -----------------------------------------------------------------------
    def submit(self, path: str | Path, content_type: str | None = None) -> UploadHandle:
        """Queue one file; bad input gives a handle that has already failed with a clear message."""
        path = Path(path)
        source = check_source(path)
        handle = UploadHandle(next(self._ids), path, source.size)
        if not source.ok:
            handle.finish_error(UploadError(path, source.cause))
            with self._lock:
                self._handles.append(handle)
            return handle
        key = normalise_path(path)
        with self._lock:
            if self._closed:
                raise RuntimeError("the upload engine was shut down")
            running = self._active.get(key)
            if running is not None and not running.done():
                return running  # the same file twice: one upload
            self._handles.append(handle)
            self._active[key] = handle
        self.progress.add_file(handle.file_id, source.size)
        self._files_pool.submit(self._run, FileInFlight(handle, content_type), key)
        return handle

    def submit_growing(
        self, path: str | Path, growing: GrowingFile, upper_bound: int, content_type: str | None = None
    ) -> UploadHandle:
        """Upload a file while its writer still writes it (see ``growing_upload.py``). ``upper_bound`` is the most
        it may grow to. The caller ends it with ``growing.finish()`` once the writer succeeded, or
        ``growing.abandon()`` (the upload then fails and is aborted on the server)."""
        path = Path(path)
        handle = UploadHandle(next(self._ids), path, upper_bound)
        handle.streamed = True
        with self._lock:
            if self._closed:
                raise RuntimeError("the upload engine was shut down")
            self._handles.append(handle)
            self._active[normalise_path(path)] = handle
        self.progress.add_file(handle.file_id, upper_bound)
        job = FileInFlight(handle, content_type, growing=growing, upper_bound=upper_bound)
        self._files_pool.submit(self._run, job, normalise_path(path))
        return handle

    def resume_unfinished(self) -> list[UploadHandle]:
        """Submit every file the journal still has uploading on this backend (after a crash or quit)."""
        handles = []
        for entry in self.journal.list(state=UploadState.UPLOADING):
            if entry.backend == self._ctx.backend_id and Path(entry.path).is_file():
                handles.append(self.submit(entry.path))
        return handles

    def set_bandwidth_limit(self, bytes_per_second: float | None) -> None:
        """Change the global limit while uploads run; None lifts it."""
        self.throttle.set_rate(bytes_per_second)

    def set_concurrency(self, concurrency: int) -> None:
        """Change the connection budget while uploads run. Raised, waiting parts start at once; lowered,
        the parts on the wire finish (none is cut off) and the next start once fewer than this run."""
        if not 1 <= concurrency <= self.max_concurrency:
            raise ValueError(f"concurrency must be between 1 and {self.max_concurrency}")
        with self._lock:
            # The context first: each file's window of signed parts is sized from it.
            self._ctx.concurrency = concurrency
            self._ctx.parts_pool.set_limit(concurrency)
            if self._files_follow_budget:
                self._files_pool.set_limit(concurrency)
        log.info("upload concurrency is now %d", concurrency)

    def snapshot(self) -> TransferSnapshot:
        return self.progress.snapshot()

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop: running uploads are interrupted (parts in flight stop at their next block) and stay in
        the journal, so the next run resumes them. Queued ones end as interrupted."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            running = [handle for handle in self._handles if not handle.done()]
        self._ctx.stopping.set()
        for handle in running:
            handle.control.pause()
        self.throttle.wake_all()
        self._files_pool.shutdown(wait=wait)
        self._ctx.parts_pool.shutdown(wait=wait)
        self.watchdog.stop()
        self._ctx.transport.close()

    def __enter__(self) -> UploadEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- one file ---------------------------------------------------------------------------------
    def _run(self, job: FileInFlight, key: str) -> None:
        handle = job.handle
        try:
            if handle.done():  # cancelled while queued
                return
            started = time.monotonic()
            try:
                result = self._upload(job, started)
            except UploadError as error:
                self._finish_failed(job, error)
            except Exception as error:
                self._finish_failed(job, self._convert(job, error))
            else:
                self.progress.finish_file(handle.file_id)
                handle.finish_ok(result)
                log.info("uploaded %s as %s in %.1f s", handle.path, result.s3_key, result.seconds)
        except Exception as error:  # a bug, or the journal failing while we report: still finish the handle
            log.exception("upload of %s ended unexpectedly", handle.path)
            handle.finish_error(UploadError(handle.path, f"unexpected error: {plain(error)}"))
        finally:
            if handle.state is not UploadStatus.COMPLETED:
                self.progress.remove_file(handle.file_id)
            with self._lock:
                if self._active.get(key) is handle:
                    del self._active[key]

    def _upload(self, job: FileInFlight, started: float) -> UploadResult:
        ctx, handle = self._ctx, job.handle
        if ctx.stopping.is_set():
            raise UploadInterrupted(handle.path, "not started before the engine stopped", resumable=True)
        handle.set_state(UploadStatus.PREPARING)
        if job.growing is not None:
            streaming = start_streaming(ctx, job, job.upper_bound)
            handle.upload_id = streaming.upload_id
            max_parts = math.ceil(job.upper_bound / streaming.part_size)
            return StreamingUpload(ctx, job, streaming, job.growing, max_parts).run(started)
        for _ in range(2):
            start = prepare(ctx, job, handle.size)
            handle.upload_id = start.upload_id
            if isinstance(start, AlreadyUploaded):
                return UploadResult(
                    handle.path, start.upload_id, start.s3_key, handle.size, start.sha256, start.method,
                    start.part_count, start.part_count, handle.size, 0, time.monotonic() - started,
                    "completed by an earlier run",
                )  # fmt: skip
            if isinstance(start, PostStart):
                return PostUpload(ctx, job, start, handle.size).run(started)
            try:
                return MultipartUpload(ctx, job, start, handle.size).run(started)
            except BackendError as refused:
                if not (start.journal_only and refused.status in (400, 409)):
                    raise
                # S3 does not hold the journal's parts after all (the upload expired or was aborted).
                self._start_over(job, start.upload_id, f"S3 does not hold its journaled parts ({refused.detail})")
            except FileChangedOnResume as changed:
                # The sampled fingerprint missed an edit: the old parts are not this file's any more.
                self._start_over(job, start.upload_id, f"{handle.path} changed since: {changed}")
        raise UploadError(handle.path, "the file keeps changing; upload it once it is written")

    def _start_over(self, job: FileInFlight, upload_id: str, why: str) -> None:
        """Drop the upload that cannot go on (aborted on the server, the journal says so) and its progress."""
        abort_quietly(self._ctx, upload_id, why)
        self.progress.remove_file(job.handle.file_id)
        self.progress.add_file(job.handle.file_id, job.handle.size)

    def _convert(self, job: FileInFlight, error: Exception) -> UploadError:
        resumable = is_resumable(error)
        cause = describe(error)
        if resumable:
            cause += "; run the upload again to resume where it stopped"
        return UploadError(job.handle.path, cause, resumable=resumable)

    def _finish_failed(self, job: FileInFlight, error: UploadError) -> None:
        handle, journal = job.handle, self._ctx.journal
        try:
            entry = journal.get(handle.upload_id) if handle.upload_id else None
            final = entry is not None and entry.state is UploadState.UPLOADING and not error.resumable
            if entry is not None and final and not handle.cancel_requested:
                # Nothing will resume it: leave no multipart upload behind, and say why in the journal.
                abort_quietly(self._ctx, entry.upload_id, error.cause)
                journal.mark_failed(entry.upload_id, error.cause)
        finally:
            handle.finish_error(error)
        if handle.state is UploadStatus.FAILED:
            log.warning("%s", error)
