"""Send one part to its presigned URL, with the retry policy: runs on the shared connection pool.

Each attempt builds a fresh PartBody (throttled, progress-reporting, watched for stalls, checked against
the checksum the URL was signed with); a failed attempt's progress is rolled back, an expired URL is
re-signed for this part alone, and anything else retryable waits a capped, jittered backoff first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import requests

from app.core.api import SignedPart
from app.core.transfer.checksums import PartChecksum
from app.core.transfer.context import EngineContext, FileJob
from app.core.transfer.planning import Part
from app.core.transfer.retry import Failure
from app.core.transfer.streams import PartBody

log = logging.getLogger(__name__)


@dataclass
class PartTask:
    part: Part
    checksum: PartChecksum
    signed: SignedPart | None = None
    resigned: int = 0
    attempts: int = 0


def send_part(ctx: EngineContext, job: FileJob, upload_id: str, task: PartTask, part_count: int) -> str:
    """Upload one part; returns S3's ETag. Raises UploadFailed, or TransferPaused/TransferCancelled."""
    handle, part = job.handle, task.part
    handle.control.raise_if_stopped()  # queued behind other files while this one was paused/cancelled
    file_id = handle.file_id
    sink = ctx.progress.part_sink(file_id, part.number)

    def on_bytes(nbytes: int) -> None:
        sink(nbytes)
        job.wire.add(nbytes)

    def attempt() -> requests.Response:
        assert task.signed is not None
        task.attempts += 1
        with ctx.watchdog.watching((file_id, part.number)) as activity:
            body = PartBody(
                job.path,
                part.offset,
                part.length,
                throttle=ctx.throttle,
                on_bytes=on_bytes,
                control=handle.control,
                activity=activity,
                expected=task.checksum,
            )
            return ctx.transport.put(task.signed.url, body, task.signed.headers)

    def resign(failure: Failure) -> None:
        log.info("%s part %d: %s; asking for a new URL", job.name, part.number, failure.reason)
        (task.signed,) = ctx.client.sign_parts(upload_id, {part.number: task.checksum.sign_fields})
        task.resigned += 1

    def on_retry(failure: Failure, delay: float) -> None:
        ctx.progress.rollback_part(file_id, part.number)

    try:
        response = ctx.policy.call(
            attempt,
            describe=f"part {part.number} of {part_count}",
            on_resign=resign,
            on_retry=on_retry,
            control=handle.control,
            sleep=ctx.sleep,
            rng=ctx.rng,
        )
    except BaseException:
        ctx.progress.rollback_part(file_id, part.number)
        raise
    etag = response.headers.get("ETag")
    if not etag:
        # Without the ETag the part cannot be listed on complete; S3 always sends one.
        raise RuntimeError(f"part {part.number} of {part_count}: the storage service answered without an ETag")
    return etag
