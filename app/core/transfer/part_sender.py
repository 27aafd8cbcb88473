"""Send one part to its presigned URL, with the retry policy: runs on the shared connection pool.

Each attempt builds a fresh PartBody (throttled, progress-reporting, watched for stalls, checked against
the checksum the URL was signed with); a failed attempt's progress is rolled back, an expired URL is
re-signed for this part alone, and anything else retryable waits a capped, jittered backoff first.

A "lead" part of a file still being written (``PartTask.growing``) has no checksum yet when it is signed:
its URL pins none, it is sent as the writer writes it, and what S3 stored is checked afterwards: the
part's ETag must be the MD5 of the bytes sent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from app.core.api import SignedPart
from app.core.transfer.checksums import ChecksumAlgorithm, PartChecksum
from app.core.transfer.context import EngineContext, FileInFlight
from app.core.transfer.growing import GrowingFile, GrowingPartBody
from app.core.transfer.part_bodies import PartBody
from app.core.transfer.planning import Part
from app.core.transfer.retry import Failure, RetryableTransferError

log = logging.getLogger(__name__)
ECHOED_CRC32C = "x-amz-checksum-crc32c"

# An ETag as stores send it: quoted (S3, MinIO, rclone, this server's folder store), or bare MD5 hex.
_ETAG = re.compile(r'^(?:W/)?"[^"\s]+"$|^[0-9A-Fa-f]{32}(?:-\d+)?$')


def usable_etag(etag: str | None) -> bool:
    return etag is not None and _ETAG.match(etag) is not None


class LeadPartUnverified(Exception):
    """S3 stored a lead part whose ETag is not the MD5 of the bytes sent (corrupted on the way, or a bucket
    whose ETags are not MD5s, e.g. SSE-KMS): the part must go again with a checksum S3 verifies."""


@dataclass
class PartTask:
    part: Part
    checksum: PartChecksum | None  # None for a lead part: its bytes are not written yet
    signed: SignedPart | None = None
    resigned: int = 0
    attempts: int = 0
    growing: GrowingFile | None = None  # set for a lead part: sent while the writer writes it
    sent: PartChecksum | None = None  # a lead part's MD5, once S3 stored it (equal to its ETag)
    confirmed_by: str | None = None  # the check the store's answer confirmed (CRC32C, ETag-MD5), if any

    @property
    def sign_fields(self) -> dict[str, str | int]:
        """What the part's URL is signed with: its checksum and, once its bytes exist, its exact length (the
        URL then takes no other body). A lead part, signed before it is written, goes without."""
        fields: dict[str, str | int] = dict(self.checksum.sign_fields) if self.checksum is not None else {}
        if self.growing is None:
            fields["content_length"] = self.part.length
        return fields


def _body(task: PartTask, path: str, **options: Any) -> PartBody:
    part = task.part
    if task.growing is not None:
        return GrowingPartBody(task.growing, part.offset, part.length, algorithm=ChecksumAlgorithm.MD5, **options)
    return PartBody(path, part.offset, part.length, expected=task.checksum, **options)


def send_part(ctx: EngineContext, job: FileInFlight, upload_id: str, task: PartTask, part_count: int) -> str:
    """Upload one part; returns S3's ETag. Raises UploadFailed, or TransferPaused/TransferCancelled."""
    handle, part = job.handle, task.part
    handle.control.raise_if_stopped()  # queued behind other files while this one was paused/cancelled
    file_id = handle.file_id
    sink = ctx.progress.part_sink(file_id, part.number)

    def on_bytes(nbytes: int) -> None:
        sink(nbytes)
        job.wire.add(nbytes)

    bodies: list[PartBody] = []

    def renew_url(why: str) -> None:
        log.info("%s part %d: %s; asking for a new URL", job.name, part.number, why)
        (task.signed,) = ctx.client.sign_parts(upload_id, {part.number: task.sign_fields})
        task.resigned += 1

    def attempt() -> requests.Response:
        assert task.signed is not None
        if task.signed.stale:  # signed ahead, then queued: a send started now could arrive after it expires
            renew_url("its URL is about to expire")
        task.attempts += 1
        with ctx.watchdog.watching((file_id, part.number)) as activity:
            body = _body(
                task, job.path, throttle=ctx.throttle, on_bytes=on_bytes, control=handle.control, activity=activity
            )
            bodies[:] = [body]
            response = ctx.transport.put(task.signed.url, body, task.signed.headers)
        problem = _answer_problem(response, task.checksum) if response.status_code < 300 else None
        if problem is not None:  # the part goes again, like any other cut; never a reason to give up the upload
            response.close()
            raise RetryableTransferError(problem)
        return response

    def resign(failure: Failure) -> None:
        renew_url(failure.reason)

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
    etag: str = response.headers["ETag"]  # usable: attempt() checked it
    if task.growing is not None:
        sent = bodies[-1].checksum
        if sent is None or not sent.matches_etag(etag):
            ctx.progress.rollback_part(file_id, part.number)
            raise LeadPartUnverified(f"part {part.number}: the stored part's ETag is not the MD5 of the bytes sent")
        task.sent = sent
    task.confirmed_by = confirmation(task.sent or task.checksum, response.headers, etag)
    return etag


def _answer_problem(response: requests.Response, sent: PartChecksum | None) -> str | None:
    """Why a 2xx answer to a part PUT cannot be taken, or None."""
    etag = response.headers.get("ETag")
    if not usable_etag(etag):
        # A connection cut inside the answer's head reads as a 200 without its ETag (or with part of it): the
        # part may or may not be stored, and without the ETag it cannot be listed on complete.
        return f"the answer had no usable ETag ({etag!r})"
    echoed, crc32c = response.headers.get(ECHOED_CRC32C), sent.crc32c if sent else None
    if echoed is not None and crc32c is not None and echoed != crc32c:
        # The store says it holds other bytes than were sent (where it does not check the header itself).
        return f"the store holds CRC32C {echoed} for it, not the {crc32c} sent"
    return None


def confirmation(checksum: PartChecksum | None, headers: Mapping[str, str], etag: str) -> str | None:
    """Which check of the part the store's answer confirms: its CRC32C echoed back equal to the one sent,
    or its ETag equal to the MD5 of the bytes sent; None when it confirms neither (a store that takes the
    checksum header without checking it, or ETags that are not MD5s)."""
    if checksum is None:
        return None
    if checksum.crc32c is not None:
        return "CRC32C" if headers.get(ECHOED_CRC32C) == checksum.crc32c else None
    return "ETag-MD5" if checksum.matches_etag(etag) else None
