"""Presigned uploads: POST for small files, multipart PUTs for large ones or when the client asks for an
upload it can resume (README)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError
from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from .. import upload_rules as rules
from .. import uploads_service as svc_uploads
from ..answers import (
    Completion,
    DownloadLink,
    PresignAnswer,
    SignedPart,
    SignedParts,
    StoredPart,
    UploadDocument,
    UploadState,
    file_answer,
)
from ..db import Upload, User, new_id
from ..errors import ApiError
from ..services import CurrentUser, Services, ServicesDep, SessionDep
from ..storage import is_missing, not_supported
from .schemas import CompleteRequest, PartsRequest, PresignRequest

router = APIRouter(tags=["uploads"])


def _key_for(svc: Services, user: User, upload_id: str, filename: str) -> str:
    return f"{svc.config.temp_prefix}{user.id}/{upload_id}/{rules.key_safe_name(filename)}"


@router.post("/api/upload/presigned-url")
@router.post("/api/upload/presigned-url/", deprecated=True)
@router.post("/process/video/upload/s3/presigned-url", deprecated=True)
def presigned_url(
    body: PresignRequest,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
) -> PresignAnswer:
    filename = rules.check_filename(body.filename)
    size = rules.check_size(body.file_size, svc.config.max_file_size)
    content_type = rules.resolve_media_type(body.content_type, filename)
    svc_uploads.check_quota(session, user, size, svc.config.max_pending_uploads)
    upload_id = new_id()
    upload = Upload(
        id=upload_id,
        user_id=user.id,
        filename=filename,
        content_type=content_type,
        declared_size=size,
        s3_key=_key_for(svc, user, upload_id, filename),
        method=rules.choose_method(
            size, svc.config.multipart_threshold, streaming=body.streaming, resumable=body.resumable
        )
        if svc.config.post_uploads
        else "MULTIPART",
        streaming=body.streaming,
    )
    expires = svc.config.presigned_expiry
    metadata = {"original-filename": rules.key_safe_name(filename), "upload-id": upload_id}
    post = None
    if svc.config.post_uploads and rules.post_offered(size, streaming=body.streaming):
        # Also beside a multipart plan: `complete` (or the job, for clients that never call it) takes
        # whichever the client used (uploads_service.take_posted_object).
        post = svc.store.presigned_post(upload.s3_key, content_type, size, expires, metadata)
    if upload.method == "MULTIPART":
        upload.part_size = rules.choose_part_size(size, body.part_size)
        upload.part_count = rules.part_count(size, upload.part_size)
        upload.checksum_algorithm = body.checksum_algorithm
        upload.s3_upload_id = svc.store.create_multipart(upload.s3_key, content_type, metadata, body.checksum_algorithm)
    session.add(upload)
    session.flush()  # gives the upload its reserved job id
    answer: PresignAnswer = {
        "upload_id": upload_id,
        "id": upload_id,  # the transcript API's name for it
        "method": upload.method,
        "file_type": rules.file_type(content_type),
        "s3_key": upload.s3_key,
        "bucket": svc.store.bucket,
        "expires_in": expires,
        "max_file_size": svc.config.max_file_size,
        "job_id": upload.reserved_job_id,
        "status_url": f"/jobs/{upload.reserved_job_id}",
    }
    if post is not None:
        answer["upload_url"], answer["upload_fields"] = post["url"], post["fields"]
    if upload.method == "MULTIPART":
        answer["part_size"] = upload.part_size or 0
        answer["part_count"] = upload.part_count or 0
        answer["checksum_algorithm"] = upload.checksum_algorithm
        answer["streaming"] = upload.streaming
    return answer


def _pending_multipart(session: Session, user: User, upload_id: str) -> Upload:
    upload = svc_uploads.owned_upload(session, user, upload_id)
    if upload.method != "MULTIPART":
        raise ApiError(409, "not_multipart", "This upload uses a single presigned POST, not parts.")
    if upload.status != "pending":
        raise ApiError(409, "upload_not_active", f"This upload is {upload.status}; it takes no more parts.")
    return upload


@router.post("/api/upload/{upload_id}/parts")
def sign_parts(
    upload_id: str,
    body: PartsRequest,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
) -> SignedParts:
    upload = _pending_multipart(session, user, upload_id)
    count = upload.part_count or 0
    expires = svc.config.presigned_expiry
    # The URLs' signing time is whole seconds (X-Amz-Date), so they expire up to 1 s before now + expires:
    # take the second before signing as the start, never later than theirs.
    signed_from = datetime.now(UTC).replace(microsecond=0)
    signed: list[SignedPart] = []
    for part in body.parts:
        if not 1 <= part.part_number <= count:
            raise ApiError(400, "invalid_part_number", f"Part numbers run from 1 to {count}.")
        if upload.checksum_algorithm == "CRC32C" and not part.checksum_crc32c:
            raise ApiError(400, "checksum_required", "This upload verifies every part: give checksum_crc32c.")
        if part.content_length is not None:
            _check_part_length(upload, part.part_number, part.content_length, count)
        url = svc.store.presigned_part_url(
            upload.s3_key,
            upload.s3_upload_id or "",
            part.part_number,
            expires,
            part.content_md5,
            part.checksum_crc32c,
            max_size=part.content_length or upload.part_size,
            content_length=part.content_length,
        )
        # The client must send exactly these headers: they are part of the signature.
        headers = {"Content-Length": str(part.content_length)} if part.content_length else {}
        if part.content_md5:
            headers["Content-MD5"] = part.content_md5
        if part.checksum_crc32c:
            headers["x-amz-checksum-crc32c"] = part.checksum_crc32c
        signed.append({"part_number": part.part_number, "url": url, "headers": headers})
    expires_at = signed_from + timedelta(seconds=expires)
    left = (expires_at - datetime.now(UTC)).total_seconds()
    return {"parts": signed, "expires_at": expires_at.isoformat().replace("+00:00", "Z"), "expires_in": round(left, 3)}


def _check_part_length(upload: Upload, number: int, length: int, count: int) -> None:
    """A part's declared length must be what the upload's plan makes it: the part size, the rest of the file
    for the last part (a file still being written: at most the part size)."""
    part_size = upload.part_size or 0
    if upload.streaming or number < count:
        expected = None if upload.streaming else part_size
        if length > part_size or (expected is not None and length != expected):
            raise ApiError(
                400, "wrong_part_size", f"Part {number} is {part_size} bytes{'' if expected else ' at most'}."
            )
        return
    last = upload.declared_size - part_size * (count - 1)
    if length != last:
        raise ApiError(400, "wrong_part_size", f"Part {number}, the last, is {last} bytes.")


@router.get("/api/upload/{upload_id}/parts")
def list_parts(
    upload_id: str,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
) -> list[StoredPart]:
    upload = _pending_multipart(session, user, upload_id)
    try:
        parts = svc.store.list_parts(upload.s3_key, upload.s3_upload_id or "")
    except ClientError as exc:
        if is_missing(exc):
            raise ApiError(409, "upload_not_active", "S3 no longer knows this multipart upload.") from exc
        if not_supported(exc):
            raise ApiError(
                501,
                "list_parts_unsupported",
                "This storage cannot list the parts of an upload (ListParts): resume from your own record of "
                "the parts sent; complete checks them.",
            ) from exc
        raise
    return [{"part_number": p.part_number, "etag": p.etag, "size": p.size} for p in parts]


@router.post("/api/upload/{upload_id}/complete")
def complete(
    upload_id: str,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
    body: CompleteRequest | None = None,
) -> Completion:
    body = body or CompleteRequest()
    upload = svc_uploads.owned_upload(session, user, upload_id)
    if upload.status == "uploaded":  # completing twice is harmless (a retry after a lost answer)
        return svc_uploads.completion(upload)
    if upload.status != "pending":
        raise ApiError(409, "upload_not_active", f"This upload is {upload.status}.")
    try:
        if svc_uploads.sent_with_the_form(svc.store, upload, body.parts):
            svc_uploads.take_posted_object(svc.store, upload, size=body.size)
        elif upload.method == "MULTIPART":
            parts = [(p.part_number, p.etag) for p in body.parts]
            crc32c = {p.part_number: p.checksum_crc32c for p in body.parts if p.checksum_crc32c}
            svc_uploads.complete_multipart(svc.store, upload, parts, crc32c, size=body.size)
        else:
            svc_uploads.verify_object(svc.store, upload, size=body.size)
        if body.sha256:
            upload.sha256 = body.sha256.lower()
    except ApiError:
        session.commit()  # keep the "failed" state the check recorded
        raise
    return svc_uploads.completion(upload)


@router.delete("/api/upload/{upload_id}")
def abort(
    upload_id: str,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
) -> UploadState:
    upload = svc_uploads.owned_upload(session, user, upload_id)
    svc_uploads.abort_or_delete(svc.store, upload)
    return {"upload_id": upload.id, "status": upload.status}


@router.get("/api/upload/{upload_id}")
def get_upload(
    upload_id: str,
    user: CurrentUser,
    session: SessionDep,
) -> UploadDocument:
    return svc_uploads.describe(svc_uploads.owned_upload(session, user, upload_id))


@router.get("/api/upload/{upload_id}/download")
def download_url(
    upload_id: str,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
) -> DownloadLink:
    upload = svc_uploads.owned_upload(session, user, upload_id)
    if upload.status != "uploaded":
        raise ApiError(409, "not_uploaded", f"This upload is {upload.status}; there is nothing to download.")
    if svc.store.head(upload.s3_key) is None:  # a link that would only 404 helps nobody (as the results route)
        raise ApiError(410, "object_missing", f"{upload.filename} is no longer in storage.")
    expires = svc.config.download_expiry
    return {
        "url": svc.store.presigned_get_url(upload.s3_key, expires, rules.key_safe_name(upload.filename)),
        "expires_in": expires,
    }


@router.get(
    "/api/upload/{upload_id}/content",
    response_class=Response,
    responses={200: file_answer("application/octet-stream", "The file's bytes, with its own Content-Type")},
)
def content(
    upload_id: str,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
) -> StreamingResponse:
    """The transcript API's direct download of a small file (a transcript, a short clip) through the API; anything
    above S3_MULTIPART_THRESHOLD is fetched with its presigned URL (/download) instead."""
    upload = svc_uploads.owned_upload(session, user, upload_id)
    if upload.status != "uploaded":
        raise ApiError(409, "not_uploaded", f"This upload is {upload.status}; there is nothing to download.")
    size = upload.size or 0
    if size > svc.config.multipart_threshold:
        raise ApiError(
            413,
            "too_large_for_content",
            f"{upload.filename} is {size} bytes; files above {svc.config.multipart_threshold} are downloaded "
            f"from GET /api/upload/{upload.id}/download.",
        )
    try:
        body = svc.store.open_stream(upload.s3_key)["Body"]
    except ClientError as exc:
        if is_missing(exc):
            raise ApiError(410, "object_missing", f"{upload.filename} is no longer in storage.") from exc
        raise

    def chunks() -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(1024 * 1024)
        finally:
            body.close()

    name = rules.key_safe_name(upload.filename)
    headers = {"Content-Length": str(size), "Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(chunks(), media_type=upload.content_type, headers=headers)
