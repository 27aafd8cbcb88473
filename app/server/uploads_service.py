"""Upload records: ownership, quota, state changes and the HeadObject check. Routes stay thin."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from botocore.exceptions import ClientError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .answers import Completion, UploadDocument
from .db import Job, JobItem, Upload, User
from .errors import ApiError, not_found
from .storage import ObjectStore, is_missing, multipart_etag
from .upload_rules import post_offered

log = logging.getLogger(__name__)

LIVE_STATES = ("pending", "uploaded")


def owned_upload(session: Session, user: User, upload_id: str) -> Upload:
    upload = session.get(Upload, upload_id)
    if upload is None or upload.user_id != user.id:
        raise not_found("upload")  # someone else's id looks exactly like a missing one
    return upload


def upload_by_key(session: Session, user: User, s3_key: str) -> Upload:
    upload = session.scalar(
        select(Upload).where(Upload.user_id == user.id, Upload.s3_key == s3_key).order_by(Upload.created_at.desc())
    )
    if upload is None:
        raise not_found("upload for this s3_key")
    return upload


def used_bytes(session: Session, user: User) -> int:
    """What the user's files take: live uploads (a pending one by its declared size), the outputs their jobs
    keep (renditions, clips, audio, thumbnails, metadata) and their results ZIPs."""
    uploads = session.scalar(
        select(func.coalesce(func.sum(func.coalesce(Upload.size, Upload.declared_size)), 0)).where(
            Upload.user_id == user.id, Upload.status.in_(LIVE_STATES)
        )
    )
    outputs = session.scalar(
        select(func.coalesce(func.sum(JobItem.size), 0))
        .join(Job, JobItem.job_id == Job.id)
        .where(Job.user_id == user.id, JobItem.status == "completed", JobItem.s3_key.is_not(None))
    )
    zips = session.scalar(
        select(func.coalesce(func.sum(Job.result_size), 0)).where(
            Job.user_id == user.id, Job.result_key.is_not(None), Job.result_size.is_not(None)
        )
    )
    return int(uploads or 0) + int(outputs or 0) + int(zips or 0)


def hold_user(session: Session, user: User) -> None:
    """Write the user's row (a no-op UPDATE) before deciding by their counts: other transactions deciding for
    the same user (quota, open uploads, active jobs) wait until this one commits with what it added (a row
    lock on PostgreSQL, the write lock on SQLite), so concurrent requests are decided one after another."""
    session.execute(update(User).where(User.id == user.id).values(quota_bytes=User.quota_bytes))


def check_quota(session: Session, user: User, file_size: int, max_pending: int) -> None:
    """Refuse an upload that would take the user past their quota, or one too many pending uploads.

    Atomic (``hold_user``): 20 presigns at once cannot each see the same free space."""
    hold_user(session, user)
    pending = session.scalar(
        select(func.count()).select_from(Upload).where(Upload.user_id == user.id, Upload.status == "pending")
    )
    if (pending or 0) >= max_pending:
        raise ApiError(
            429,
            "too_many_pending_uploads",
            f"{pending} uploads are still open; finish or cancel some first (at most {max_pending} at once).",
            {"Retry-After": "60"},
        )
    used = used_bytes(session, user)
    if used + file_size > user.quota_bytes:
        raise ApiError(
            413,
            "quota_exceeded",
            f"This upload needs {file_size} bytes; your quota has {max(0, user.quota_bytes - used)} left.",
        )


def fail_upload(store: ObjectStore, upload: Upload, code: str, reason: str) -> ApiError:
    """Mark the upload failed, delete what S3 holds, and return the error to raise."""
    upload.status = "failed"
    upload.error = reason
    try:
        store.delete(upload.s3_key)
    except ClientError:
        log.warning("could not delete rejected object of upload %s", upload.id, exc_info=True)
    return ApiError(400, code, f"{upload.filename}: {reason} The upload was discarded.")


def expected_size(upload: Upload, size: int | None) -> int:
    """The size S3 must hold: the declared one, or for a streaming upload the one complete reports (which
    must fit under the declared upper bound). A size given for an ordinary upload must match too."""
    if upload.streaming:
        if size is None:
            raise ApiError(400, "size_required", "A streaming upload is completed with its real size.")
        if not 1 <= size <= upload.declared_size:
            raise ApiError(
                400,
                "invalid_size",
                f"size {size} is outside 1..{upload.declared_size}, the upper bound declared for this upload.",
            )
        return size
    if size is not None and size != upload.declared_size:
        raise ApiError(400, "invalid_size", f"size {size} differs from the {upload.declared_size} bytes declared.")
    return upload.declared_size


# Uploads whose object is written with x-amz-meta-upload-id (the POST policy's fields, CreateMultipartUpload).
SIGNED_WITH_ITS_ID = ("POST", "MULTIPART")


def verify_object(store: ObjectStore, upload: Upload, *, size: int | None = None, assembled_here: bool = False) -> None:
    """HeadObject is the real guard: S3-compatible stores do not all enforce a POST policy's size range.

    ``assembled_here``: the object is the multipart upload this server just completed with its own S3 upload
    id, from parts sent with URLs signed for it; a store that keeps no metadata of multipart uploads (rclone
    serve s3) may then show no upload-id, which proves nothing against it (another id still does)."""
    wanted = expected_size(upload, size)
    head = store.head(upload.s3_key)
    if head is None:
        raise ApiError(
            409, "object_missing", f"{upload.filename}: nothing has been uploaded to S3 for this upload yet."
        )
    if head.size != wanted:
        said = "the client reported" if upload.streaming else "were declared"
        raise fail_upload(store, upload, "size_mismatch", f"S3 holds {head.size} bytes but {wanted} {said}.")
    owner = head.metadata.get("upload-id")
    unnamed_is_ours = owner is None and assembled_here
    if owner != upload.id and not unnamed_is_ours and (owner is not None or upload.method in SIGNED_WITH_ITS_ID):
        # Its URL or policy named this upload, yet the object names another (or none: a form sent without the
        # field, to a store that does not enforce its policy): these are not this upload's bytes.
        raise fail_upload(store, upload, "object_mismatch", "The stored object belongs to another upload.")
    stored_type = head.content_type.split(";")[0].strip().lower()
    if stored_type and stored_type != upload.content_type:
        raise fail_upload(
            store,
            upload,
            "content_type_mismatch",
            f"S3 holds type {stored_type!r} but {upload.content_type!r} was declared.",
        )
    upload.size = head.size
    upload.status = "uploaded"
    upload.error = None


def complete_multipart(
    store: ObjectStore,
    upload: Upload,
    parts: list[tuple[int, str]],
    crc32c: dict[int, str] | None = None,
    *,
    size: int | None = None,
) -> None:
    count = upload.part_count or 0
    if upload.streaming:
        # Its part_count is an upper bound: the file ended after parts 1..N, N <= part_count.
        count = min(count, max(1, len(parts)))
    expected_size(upload, size)  # a missing or impossible size is refused before S3 assembles anything
    expected = list(range(1, count + 1))
    numbers = [n for n, _ in parts]
    if numbers != expected:
        missing = sorted(set(expected) - set(numbers))
        extra = sorted(set(numbers) - set(expected))
        detail = "Parts must be listed once each, in order, 1.." + str(len(expected)) + "."
        if missing:
            detail += f" Missing: {missing[:20]}."
        if extra:
            detail += f" Unexpected: {extra[:20]}."
        raise ApiError(400, "invalid_parts", detail)
    try:
        store.complete_multipart(upload.s3_key, upload.s3_upload_id or "", parts, crc32c)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall"):
            raise ApiError(400, "invalid_parts", f"S3 refused the part list: {code}.") from exc
        if not is_missing(exc):
            raise
        if not assembled_from(store, upload.s3_key, parts):
            raise ApiError(409, "upload_not_active", "S3 no longer knows this multipart upload.") from exc
        # An earlier complete went through at S3 but its answer was lost (the client died during it): the
        # object is these parts, so record it, rather than have the client send the whole file again.
        log.info("upload %s: S3 had assembled it already (an earlier complete); recording it", upload.id)
    verify_object(store, upload, size=size, assembled_here=True)
    upload.part_count = count


def assembled_from(store: ObjectStore, key: str, parts: list[tuple[int, str]]) -> bool:
    """Whether the object at `key` is the multipart assembly of exactly these parts: its ETag is S3's
    multipart ETag of theirs (MD5 of the parts' MD5s, then "-" and their count). Where part ETags are not
    MD5s (some stores), nothing can be told, and the answer is no."""
    head = store.head(key)
    if head is None or not parts:
        return False
    try:
        digests = [bytes.fromhex(etag.strip().strip('"')) for _, etag in parts]
    except ValueError:
        return False
    if any(len(digest) != 16 for digest in digests):
        return False
    return head.etag.strip().strip('"').lower() == multipart_etag(digests)


def sent_with_the_form(store: ObjectStore, upload: Upload, parts: Sequence[object] = ()) -> bool:
    """A multipart upload whose client used the POST form its answer also carried (the older clients do):
    no parts listed, and the object is already at its key."""
    return (
        upload.status == "pending"
        and upload.method == "MULTIPART"
        and not parts
        and post_offered(upload.declared_size, streaming=upload.streaming)
        and store.head(upload.s3_key) is not None
    )


def take_posted_object(store: ObjectStore, upload: Upload, *, size: int | None = None) -> None:
    """Accept the object a client POSTed in place of the parts it was offered: checked as any POST upload,
    then the multipart upload nobody used is aborted, so S3 keeps (and bills) no orphaned upload."""
    verify_object(store, upload, size=size)
    try:
        store.abort_multipart(upload.s3_key, upload.s3_upload_id or "")
    except ClientError as exc:
        if not is_missing(exc):
            # The object is accepted all the same; the stale-upload sweep aborts what is left in S3.
            log.warning("upload %s: could not abort its unused multipart upload", upload.id, exc_info=True)
    upload.method = "POST"
    upload.s3_upload_id = None
    upload.part_size = None
    upload.part_count = None


def abort_or_delete(store: ObjectStore, upload: Upload) -> None:
    if upload.status == "pending" and upload.method == "MULTIPART" and upload.s3_upload_id:
        # S3 may still be writing parts that were in flight when abort ran: abort until none remain.
        for _ in range(5):
            store.abort_multipart(upload.s3_key, upload.s3_upload_id)
            try:
                if not store.list_parts(upload.s3_key, upload.s3_upload_id):
                    break
            except ClientError as exc:
                if is_missing(exc):
                    break
                raise
        if post_offered(upload.declared_size, streaming=upload.streaming):
            store.delete(upload.s3_key)  # the client may have used the POST form its answer also carried
        upload.status = "aborted"
    elif upload.status in ("pending", "uploaded", "failed"):
        store.delete(upload.s3_key)
        upload.status = "aborted" if upload.status == "pending" else "deleted"


def completion(upload: Upload) -> Completion:
    return {
        "upload_id": upload.id,
        "s3_key": upload.s3_key,
        "size": upload.size,
        "status": upload.status,
        "sha256": upload.sha256,
    }


def describe(upload: Upload) -> UploadDocument:
    return {
        "upload_id": upload.id,
        "id": upload.id,  # the transcript API's name for it (video_response.id)
        "filename": upload.filename,
        "content_type": upload.content_type,
        "declared_size": upload.declared_size,
        "size": upload.size,
        "s3_key": upload.s3_key,
        "method": upload.method,
        "part_size": upload.part_size,
        "part_count": upload.part_count,
        "status": upload.status,
        "is_temp": upload.is_temp,
        "error": upload.error,
        "checksum_algorithm": upload.checksum_algorithm,
        "sha256": upload.sha256,
        "streaming": upload.streaming,
        "job_id": upload.reserved_job_id,
        "created_at": upload.created_at.isoformat() + "Z",
        "updated_at": upload.updated_at.isoformat() + "Z",
    }
