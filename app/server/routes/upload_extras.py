"""The older upload paths (the transcript API): small files through the API, transcripts, permanent storage, stats."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, File, Query, UploadFile
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import upload_rules as rules
from .. import uploads_service as svc_uploads
from ..answers import PrefixUse, StorageOverview, TempSweep, UploadDocument
from ..cleanup import sweep_temp
from ..db import Job, Upload, User, new_id
from ..errors import ApiError
from ..services import (
    AdminUser,
    CurrentUser,
    Services,
    ServicesDep,
    SessionDep,
)
from .schemas import TranscriptText

router = APIRouter(tags=["uploads"])


def _store_small(
    svc: Services,
    session: Session,
    user: User,
    filename: str,
    content_type: str,
    size: int,
    stream: Any,
    is_temp: bool,
) -> UploadDocument:
    svc_uploads.check_quota(session, user, size, svc.config.max_pending_uploads)
    upload_id = new_id()
    prefix = svc.config.temp_prefix if is_temp else _permanent_prefix(svc, content_type)
    upload = Upload(
        id=upload_id,
        user_id=user.id,
        filename=filename,
        content_type=content_type,
        declared_size=size,
        s3_key=f"{prefix}{user.id}/{upload_id}/{rules.key_safe_name(filename)}",
        method="API",
        is_temp=is_temp,
    )
    svc.store.put_stream(upload.s3_key, stream, content_type)
    svc_uploads.verify_object(svc.store, upload)
    session.add(upload)
    session.flush()
    return svc_uploads.describe(upload)


def _permanent_prefix(svc: Services, content_type: str) -> str:
    """Where a kept upload lives: transcripts under S3_TRANSCRIPTS_PREFIX (the transcript API), media under videos/."""
    return svc.config.transcripts_prefix if content_type.startswith("text/") else svc.config.videos_prefix


def receive_small_file(
    file: UploadFile, svc: Services, session: Session, user: User, is_temp: bool, allow_text: bool
) -> UploadDocument:
    filename = rules.check_filename(file.filename or "")
    content_type = rules.resolve_media_type(file.content_type, filename, allow_text=allow_text)
    size = file.size if file.size is not None else 0
    rules.check_size(size, min(svc.config.max_file_size, svc.config.multipart_threshold))
    return _store_small(svc, session, user, filename, content_type, size, file.file, is_temp)


@router.post("/api/upload/file")
@router.post("/api/upload/video", deprecated=True)
def upload_file(
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
    file: UploadFile = File(...),
    is_temp: bool = Query(default=True),
) -> UploadDocument:
    """A small video or audio file streamed through the API (up to S3_MULTIPART_THRESHOLD)."""
    return receive_small_file(file, svc, session, user, is_temp, allow_text=False)


@router.post("/api/upload/transcript-file")
def upload_transcript_file(
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
    file: UploadFile = File(...),
    is_temp: bool = Query(default=True),
) -> UploadDocument:
    return receive_small_file(file, svc, session, user, is_temp, allow_text=True)


@router.post("/api/upload/transcript-text")
def upload_transcript_text(
    body: TranscriptText,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
    is_temp: bool = Query(default=True),
) -> UploadDocument:
    filename = rules.check_filename(body.filename)
    data = body.content.encode("utf-8")
    return _store_small(svc, session, user, filename, "text/plain", len(data), io.BytesIO(data), is_temp)


@router.post("/api/upload/{upload_id}/move-to-permanent")
def move_to_permanent(
    upload_id: str,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
) -> UploadDocument:
    upload = svc_uploads.owned_upload(session, user, upload_id)
    if upload.status != "uploaded":
        raise ApiError(409, "not_uploaded", f"This upload is {upload.status}; only uploaded files can move.")
    if not upload.is_temp:
        return svc_uploads.describe(upload)
    new_key = f"{_permanent_prefix(svc, upload.content_type)}{upload.id}/{rules.key_safe_name(upload.filename)}"
    svc.store.copy(upload.s3_key, new_key)
    svc.store.delete(upload.s3_key)
    # Jobs that were not started yet must follow the object.
    for job in session.scalars(select(Job).where(Job.upload_id == upload.id, Job.s3_key == upload.s3_key)):
        job.s3_key = new_key
    upload.s3_key = new_key
    upload.is_temp = False
    return svc_uploads.describe(upload)


@router.post("/api/upload/cleanup-temp")
def cleanup_temp(
    _admin: AdminUser,
    session: SessionDep,
    svc: ServicesDep,
    hours: int = Query(default=24, ge=0, le=24 * 365),
) -> TempSweep:
    cutoff = datetime.now(UTC) - timedelta(hours=hours)
    return sweep_temp(svc, session, cutoff)


@router.get("/api/upload/stats/overview")
def stats_overview(
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
) -> StorageOverview:
    prefixes = {
        "temp": svc.config.temp_prefix,
        "videos": svc.config.videos_prefix,
        "processed": svc.config.processed_prefix,
        "results": svc.config.results_prefix,
    }
    per_prefix: defaultdict[str, PrefixUse] = defaultdict(lambda: PrefixUse(count=0, bytes=0))
    if user.is_admin:
        for name, prefix in prefixes.items():
            for obj in svc.store.list_objects(prefix):
                per_prefix[name]["count"] += 1
                per_prefix[name]["bytes"] += int(obj["Size"])
        scope = "all users"
    else:
        for upload in session.scalars(select(Upload).where(Upload.user_id == user.id, Upload.status == "uploaded")):
            name = "temp" if upload.s3_key.startswith(prefixes["temp"]) else "videos"
            per_prefix[name]["count"] += 1
            per_prefix[name]["bytes"] += upload.size or 0
        for job in session.scalars(select(Job).where(Job.user_id == user.id, Job.result_key.is_not(None))):
            per_prefix["results"]["count"] += 1
            per_prefix["results"]["bytes"] += job.result_size or 0
        scope = user.username
    by_status: dict[str, int] = defaultdict(int)
    query = select(Upload.status) if user.is_admin else select(Upload.status).where(Upload.user_id == user.id)
    for status in session.scalars(query):
        by_status[status] += 1
    return {
        "scope": scope,
        "prefixes": {name: per_prefix[name] for name in prefixes},
        "uploads_by_status": dict(by_status),
        "total_bytes": sum(v["bytes"] for v in per_prefix.values()),
    }
