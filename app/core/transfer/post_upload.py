"""A small file in one presigned POST (the server decides what is small), with the same retry policy.

The SHA-256 is taken from the bytes of the attempt that succeeded, while they are sent: no second pass.
An expired policy is answered with a fresh presign (a new upload id; the old one is aborted), like an
expired part URL. The request holds one slot of the shared connection pool, so POSTs and parts of every
file share one budget.
"""

from __future__ import annotations

import hashlib
import logging
import time

import requests

from app.core.transfer.context import EngineContext, FileInFlight
from app.core.transfer.control import TransferCancelled, TransferPaused
from app.core.transfer.form_post import FormPostBody
from app.core.transfer.handle import UploadCancelled, UploadError, UploadInterrupted, UploadResult, UploadStatus
from app.core.transfer.part_bodies import PartBody
from app.core.transfer.resume import PostStart, abort_quietly, start_fresh
from app.core.transfer.retry import Failure, FailureKind, UploadFailed

log = logging.getLogger(__name__)

POST_PART = 1  # the progress tracker's part number for the single request
# Refusals of the form itself (rclone serve s3: 400 UnsupportedAlgorithm; others 403, 405, 501), not of the
# file: worth naming the server setting that avoids forms.
FORM_REFUSED = frozenset({400, 403, 405, 411, 412, 501})
POLL = 0.25


class PostUpload:
    def __init__(self, ctx: EngineContext, job: FileInFlight, start: PostStart, size: int) -> None:
        self.ctx = ctx
        self.job = job
        self.start = start
        self.size = size
        self.sha256: str | None = None

    def run(self, started_at: float) -> UploadResult:
        ctx, handle = self.ctx, self.job.handle
        handle.upload_id = self.start.upload_id
        handle.set_state(UploadStatus.UPLOADING)
        while True:
            try:
                ctx.parts_pool.submit(self._send).result()
                break
            except UploadFailed as failed:
                failure = failed.failure
                if failure.kind is FailureKind.FATAL and failure.status in FORM_REFUSED:
                    raise UploadError(
                        self.job.path,
                        f"the storage service refused the upload form ({failure.reason}); if this store does not "
                        "take presigned POST uploads, its ReelDrop server can be set S3_POST_UPLOADS=false",
                    ) from failed
                raise
            except TransferPaused:
                self._wait_while_paused()
            except TransferCancelled:
                self._raise_if_told()
                raise
        assert self.sha256 is not None
        handle.set_state(UploadStatus.COMPLETING)
        answer = ctx.client.complete(self.start.upload_id, sha256=self.sha256)
        if answer.get("size") is not None and int(answer["size"]) != self.size:
            raise UploadError(self.job.path, f"the server stored {answer['size']} bytes, not {self.size}")
        ctx.journal.mark_completed(self.start.upload_id, sha256=self.sha256)
        ctx.progress.commit_part(handle.file_id, POST_PART, self.size)
        return UploadResult(
            path=handle.path,
            upload_id=self.start.upload_id,
            s3_key=answer.get("s3_key") or self.start.s3_key,
            size=self.size,
            sha256=self.sha256,
            method="POST",
            part_count=1,
            parts_reused=0,
            bytes_reused=0,
            bytes_sent=self.job.wire.value,
            seconds=time.monotonic() - started_at,
            integrity="one POST: the server checked its size at complete; no checksum was confirmed by the store",
        )

    def _raise_if_told(self) -> None:
        if self.job.handle.cancel_requested:
            abort_quietly(self.ctx, self.start.upload_id, "cancelled by the user")
            raise UploadCancelled(self.job.path, "cancelled; the upload was aborted on the server")
        if self.ctx.stopping.is_set():
            # The journal keeps the entry: the next run aborts this upload and sends the file again.
            raise UploadInterrupted(self.job.path, "interrupted; run the upload again to send it", resumable=True)

    def _wait_while_paused(self) -> None:
        control = self.job.handle.control
        while True:
            self._raise_if_told()
            if control.wait_until_resumed(POLL):
                return

    def _send(self) -> None:
        ctx, handle = self.ctx, self.job.handle
        handle.control.raise_if_stopped()
        sink = ctx.progress.part_sink(handle.file_id, POST_PART)

        def on_bytes(nbytes: int) -> None:
            sink(nbytes)
            self.job.wire.add(nbytes)

        def attempt() -> requests.Response:
            digest = hashlib.sha256()
            with ctx.watchdog.watching((handle.file_id, POST_PART)) as activity:
                file_body = PartBody(
                    self.job.path,
                    0,
                    self.size,
                    throttle=ctx.throttle,
                    on_bytes=on_bytes,
                    control=handle.control,
                    activity=activity,
                    also_hash=digest,
                )
                content_type = self.start.fields.get("Content-Type") or "application/octet-stream"
                body = FormPostBody(self.start.fields, handle.path.name, content_type, file_body)
                response = ctx.transport.post(self.start.url, body, body.content_type)
            if response.ok:
                self.sha256 = digest.hexdigest()
            return response

        def on_retry(failure: Failure, delay: float) -> None:
            ctx.progress.rollback_part(handle.file_id, POST_PART)

        try:
            ctx.policy.call(
                attempt,
                describe="upload",
                on_resign=self._represign,
                on_retry=on_retry,
                control=handle.control,
                sleep=ctx.sleep,
                rng=ctx.rng,
            )
        except BaseException:
            ctx.progress.rollback_part(handle.file_id, POST_PART)
            raise

    def _represign(self, failure: Failure) -> None:
        """The POST policy expired: ask for a new upload and drop the old one."""
        old = self.start.upload_id
        fresh = start_fresh(self.ctx, self.job, self.size)
        if not isinstance(fresh, PostStart):  # the server's threshold changed under us
            abort_quietly(self.ctx, fresh.upload_id, "expected a single-request upload")
            raise UploadError(self.job.path, "the server no longer accepts this file in one request")
        abort_quietly(self.ctx, old, f"its upload policy expired ({failure.reason})")
        self.start = fresh
        self.job.handle.upload_id = fresh.upload_id
