"""Start an upload, or pick up the one the journal holds for this file.

Resume trusts nothing on its own: a part is reused only when the journal recorded it *and* the server's
ListParts still holds it with the same size and ETag (and, later, when its checksum read from the file
again still matches the journal's). Parts S3 holds that the journal never recorded (the process died
between S3's answer and the journal write) are sent again: without their checksum they cannot be
verified, and re-sending one part is the price of "at most the parts in flight". A file that changed
since (size, mtime or sampled fingerprint) starts a fresh upload, and the old one is aborted so nothing
is left in the bucket. An interrupted presigned POST cannot be continued and is sent again, which is why
files above ``RESUMABLE_UPLOAD_ABOVE`` ask the server for parts.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from app.core.api import BackendError
from app.core.transfer.checksums import ChecksumAlgorithm
from app.core.transfer.context import EngineContext, FileInFlight
from app.core.transfer.journal import JournalEntry, JournalPart, UploadState
from app.core.transfer.planning import MiB, part_size_to_resume, split

log = logging.getLogger(__name__)

SERVER_CHECKSUM = {ChecksumAlgorithm.CRC32C: "CRC32C"}

# Files above this ask the server for a resumable (multipart) upload whatever its POST threshold (the
# reference server's default is 100 MiB, above most compressed outputs): an interrupted presigned POST can
# only start again from byte 0, while stored parts survive a quit or a crash. At or under it a file is one
# or two parts' worth (the default part is 16 MiB), which a single POST sends with fewer round trips and
# re-sends in seconds.
RESUMABLE_UPLOAD_ABOVE = 16 * MiB


@dataclass
class MultipartStart:
    upload_id: str
    s3_key: str
    part_size: int
    algorithm: ChecksumAlgorithm
    reusable: dict[int, JournalPart] = field(default_factory=dict)
    resumed: bool = False
    # The parts to reuse come from the journal alone, the store's listing being unavailable: S3 lists no
    # parts but the journal holds them all (the last run most likely died during `complete`, after S3
    # assembled the object), or the store cannot list parts at all (s3rver). `complete` checks the journal's
    # ETags against what S3 holds; if it refuses them (400/409), the upload starts afresh, once.
    journal_only: bool = False


@dataclass
class PostStart:
    upload_id: str
    s3_key: str
    url: str
    fields: dict[str, str]


@dataclass
class AlreadyUploaded:
    """The last run completed the upload but died before the journal said so."""

    upload_id: str
    s3_key: str
    sha256: str
    part_count: int
    method: str


Start = MultipartStart | PostStart | AlreadyUploaded


def algorithm_of(upload: dict[str, Any]) -> ChecksumAlgorithm:
    """The per-part checksum a server upload record (or presign answer) asks for: CRC32C, else MD5."""
    return ChecksumAlgorithm.CRC32C if upload.get("checksum_algorithm") == "CRC32C" else ChecksumAlgorithm.MD5


def abort_quietly(ctx: EngineContext, upload_id: str, why: str) -> None:
    """Abort an upload on the server (best effort) and mark it aborted in the journal."""
    try:
        ctx.client.abort(upload_id)
        log.info("aborted upload %s: %s", upload_id, why)
    except BackendError as error:
        log.warning("could not abort upload %s (%s): %s", upload_id, why, error.detail)
    if ctx.journal.get(upload_id) is not None:
        ctx.journal.mark_aborted(upload_id)


def _reusable_parts(entry: JournalEntry, listed: list[dict[str, Any]], size: int) -> dict[int, JournalPart]:
    plan = split(size, entry.part_size)
    held = {int(item["part_number"]): item for item in listed}
    reusable, stale = {}, set()
    for part in entry.parts:
        stored = held.get(part.number)
        planned = plan.part(part.number) if part.number <= plan.part_count else None
        if (
            stored is not None
            and planned is not None
            and int(stored["size"]) == part.size == planned.length
            and _etag(stored["etag"]) == _etag(part.etag)
        ):
            reusable[part.number] = part
        else:
            stale.add(part.number)
    if stale:
        log.info("upload %s: S3 no longer holds parts %s as journaled; sending them again", entry.upload_id, stale)
    return reusable


def _etag(value: str) -> str:
    return value.strip().strip('"').lower()


def _pick_up(ctx: EngineContext, job: FileInFlight, entry: JournalEntry) -> Start | None:
    """What to do with a journaled upload still marked uploading; None means start fresh."""
    try:
        record = ctx.client.upload(entry.upload_id)
    except BackendError as error:
        if error.status != 404:
            raise
        ctx.journal.mark_aborted(entry.upload_id)  # the server does not know it (any more)
        return None
    status = record.get("status")
    same_file = entry.matches(job.path)
    if status == "uploaded":
        if same_file and record.get("sha256"):
            ctx.journal.mark_completed(entry.upload_id, sha256=record["sha256"])
            count = split(entry.size, entry.part_size).part_count if entry.part_size else 1
            method = "MULTIPART" if entry.part_size else "POST"
            return AlreadyUploaded(entry.upload_id, entry.s3_key, record["sha256"], count, method)
        ctx.journal.mark_completed(entry.upload_id, sha256=record.get("sha256"))
        return None
    if status != "pending":
        ctx.journal.mark_aborted(entry.upload_id)
        return None
    if not same_file:
        abort_quietly(ctx, entry.upload_id, f"{job.path} changed since it was started")
        return None
    if entry.part_size == 0:
        # A presigned POST cannot be continued halfway; drop it and send the file again.
        abort_quietly(ctx, entry.upload_id, "an interrupted single-request upload is sent again")
        return None
    algorithm = algorithm_of(record)
    journaled = {part.number: part for part in entry.parts}
    try:
        listed = ctx.client.list_parts(entry.upload_id)
    except BackendError as error:
        every_part = set(range(1, split(entry.size, entry.part_size).part_count + 1))
        if error.status == 409 and entry.finished_part_numbers == every_part:
            log.info("upload %s: S3 lists no parts but the journal holds them all; completing it", entry.upload_id)
        elif error.status == 501:
            log.info("upload %s: the store cannot list parts (%s); resuming from the journal", entry.upload_id, error)
        elif error.status in (404, 409):
            ctx.journal.mark_aborted(entry.upload_id)
            return None
        else:
            raise
        return MultipartStart(
            entry.upload_id, entry.s3_key, entry.part_size, algorithm, journaled, True, journal_only=True
        )
    reusable = _reusable_parts(entry, listed, entry.size)
    stale = entry.finished_part_numbers - set(reusable)
    if stale:
        ctx.journal.forget_parts(entry.upload_id, stale)
    log.info("resuming upload %s of %s: %d of its parts are already stored", entry.upload_id, job.path, len(reusable))
    return MultipartStart(entry.upload_id, entry.s3_key, entry.part_size, algorithm, reusable, resumed=True)


def _asks_resumable(ctx: EngineContext, size: int) -> bool:
    """Parts only let a file resume when it is more than one of them (a user may prefer 64 MiB parts)."""
    return size > max(RESUMABLE_UPLOAD_ABOVE, ctx.part_size or 0)


def start_fresh(ctx: EngineContext, job: FileInFlight, size: int) -> Start:
    resumable = _asks_resumable(ctx, size)
    preferred_part_size = ctx.part_size or (part_size_to_resume(size) if resumable else None)
    answer = ctx.client.presign(
        os.path.basename(job.path),
        size,
        job.content_type,
        part_size=preferred_part_size,
        checksum_algorithm=SERVER_CHECKSUM.get(ctx.checksum_algorithm),
        resumable=resumable,
    )
    upload_id, s3_key = answer["upload_id"], answer["s3_key"]
    if answer["method"] == "POST":  # a small file, or a server that predates ``resumable``
        ctx.journal.start(job.path, upload_id=upload_id, s3_key=s3_key, part_size=0, backend=ctx.backend_id)
        return PostStart(upload_id, s3_key, answer["upload_url"], dict(answer["upload_fields"]))
    part_size = int(answer["part_size"])
    ctx.journal.start(job.path, upload_id=upload_id, s3_key=s3_key, part_size=part_size, backend=ctx.backend_id)
    return MultipartStart(upload_id, s3_key, part_size, algorithm_of(answer))


def prepare(ctx: EngineContext, job: FileInFlight, size: int) -> Start:
    """Resume what the journal holds for this file on this backend, or start a new upload."""
    entry = ctx.journal.find(job.path, state=UploadState.UPLOADING, backend=ctx.backend_id)
    if entry is not None:
        picked = _pick_up(ctx, job, entry)
        if picked is not None:
            return picked
    return start_fresh(ctx, job, size)
