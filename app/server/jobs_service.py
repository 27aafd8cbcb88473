"""Jobs: options, creation from an upload, the status document, cancel."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.media.presets import MAX_CLIPS, MAX_THUMBNAILS, RENDITION_BOXES

from . import uploads_service as svc_uploads
from .answers import JobDocument, JobItemDocument, JobSummary, ResultSummary
from .db import Job, JobItem, Upload, User
from .errors import ApiError, not_found
from .storage import ObjectStore
from .upload_rules import TEXT_TYPES
from .worker.plan import BATCH_UPLOADS, UPLOAD_KIND

BATCH_JOB = "batch_job_id"  # in a batch's child job: the batch it belongs to
BATCH_CHILDREN = "children"  # in a batch: its child jobs, in the order of its uploads
MAX_BATCH_UPLOADS = 100
_INTERNAL_OPTIONS = ("videos", BATCH_UPLOADS, BATCH_CHILDREN, BATCH_JOB)

log = logging.getLogger(__name__)
QUALITIES = tuple(RENDITION_BOXES)
FINISHED = ("completed", "partial", "failed", "cancelled")
DEFAULT_OPTIONS: dict[str, Any] = {
    "renditions": ["720p", "480p"],
    "audio": True,
    "clips": {"count": 3},
    "thumbnails": 3,
    "delete_after_processing": True,
    "delete_audio_after_clips": False,
    "burn_captions": False,
}


# What a job's options may hold; anything else is dropped. "extra" carries the browser-upload API's frame_skip and
# min_confidence, stored and echoed (bounded); the rest the worker reads.
KNOWN_OPTIONS = frozenset(DEFAULT_OPTIONS) | {"title", "description", "tags", "voice", "extra"}
MAX_EXTRA_BYTES = 4096


def _bad(detail: str) -> ApiError:
    return ApiError(422, "invalid_options", detail)


def normalize_options(raw: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and refuse values the worker could not honour, before anything is queued."""
    internal = [name for name in _INTERNAL_OPTIONS if name in raw]
    if internal:
        raise _bad(
            f"{internal[0]} is not an option of a job on an upload: POST /channel/download/selected takes the "
            "videos or uploads of a job over several."
        )
    ignored = sorted(k for k in raw if k not in KNOWN_OPTIONS)
    if ignored:  # dropped, not stored: junk would otherwise ride along in every status document
        log.info("job options ignored (not options of a job): %s", ", ".join(str(k)[:64] for k in ignored[:20]))
    options = {**DEFAULT_OPTIONS, **{k: v for k, v in raw.items() if v is not None and k in KNOWN_OPTIONS}}
    renditions = options["renditions"]
    if not isinstance(renditions, list) or not all(isinstance(r, str) for r in renditions):
        raise _bad("renditions must be a list like ['1080p', '720p'].")
    unknown = [r for r in renditions if r not in QUALITIES]
    if unknown:
        raise _bad(f"unknown rendition(s) {unknown}; choose from {list(QUALITIES)}.")
    options["renditions"] = list(dict.fromkeys(renditions))
    clips = options["clips"]
    if isinstance(clips, int) and not isinstance(clips, bool):
        clips = {"count": clips}
    if (
        not isinstance(clips, dict)
        or not isinstance(clips.get("count", 0), int)
        or not 0 <= clips["count"] <= MAX_CLIPS
    ):
        raise _bad(f"clips must be {{'count': 0..{MAX_CLIPS}}}.")
    options["clips"] = clips
    thumbs = options["thumbnails"]
    if isinstance(thumbs, bool) or not isinstance(thumbs, int) or not 0 <= thumbs <= MAX_THUMBNAILS:
        raise _bad(f"thumbnails must be a number from 0 to {MAX_THUMBNAILS}.")
    for flag in ("audio", "delete_after_processing", "delete_audio_after_clips", "burn_captions"):
        if not isinstance(options[flag], bool):
            raise _bad(f"{flag} must be true or false.")
    for text in ("title", "description"):
        if text in options and (not isinstance(options[text], str) or len(options[text]) > 5000):
            raise _bad(f"{text} must be text of at most 5000 characters.")
    if "voice" in options and (not isinstance(options["voice"], str) or len(options["voice"]) > 64):
        raise _bad("voice must be a name of at most 64 characters.")
    if "extra" in options and (
        not isinstance(options["extra"], dict) or len(json.dumps(options["extra"])) > MAX_EXTRA_BYTES
    ):
        raise _bad(f"extra must be an object of at most {MAX_EXTRA_BYTES} bytes as JSON.")
    tags = options.get("tags", [])
    if not isinstance(tags, list) or len(tags) > 50 or not all(isinstance(t, str) and len(t) <= 100 for t in tags):
        raise _bad("tags must be a list of at most 50 short strings.")
    return options


def ready_upload(session: Session, store: ObjectStore, upload: Upload) -> Upload:
    """The upload a job may process; an unconfirmed POST upload is checked now (the form-upload API skips
    complete), also where the client used the POST form beside a multipart plan (the browser- and form-upload
    APIs above 100 MiB)."""
    try:
        if svc_uploads.sent_with_the_form(store, upload):
            svc_uploads.take_posted_object(store, upload)
        elif upload.status == "pending" and upload.method == "POST":
            svc_uploads.verify_object(store, upload)
    except ApiError:
        session.commit()
        raise
    if upload.status != "uploaded":
        raise ApiError(409, "upload_not_complete", f"{upload.filename}: the upload is {upload.status}, not uploaded.")
    return upload


def check_active_jobs(session: Session, user: User, adding: int, limit: int) -> None:
    """Refuse jobs past the user's limit of jobs waiting or running at once (jobs on uploads; a batch counts
    by its uploads' jobs). Concurrent requests count one after another (``hold_user``)."""
    svc_uploads.hold_user(session, user)
    active = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.user_id == user.id, Job.status.in_(("pending", "processing")), Job.upload_id.is_not(None))
    )
    if (active or 0) + adding > limit:
        raise ApiError(
            429,
            "too_many_jobs",
            f"{active} of your jobs are waiting or running and this asks for {adding} more; at most {limit} at once.",
            {"Retry-After": "30"},
        )


def create_job(session: Session, user: User, upload: Upload, options: dict[str, Any]) -> Job:
    taken = session.get(Job, upload.reserved_job_id) is not None
    job = Job(user_id=user.id, upload_id=upload.id, s3_key=upload.s3_key, options=normalize_options(options))
    if not taken:
        job.id = upload.reserved_job_id
    session.add(job)
    session.flush()
    return job


def transcript_of(session: Session, user: User, upload_id: str) -> dict[str, Any]:
    """The transcript API's transcript_upload_id: one of the caller's text uploads, described for the job's options."""
    upload = svc_uploads.owned_upload(session, user, upload_id)
    if upload.status != "uploaded":
        raise ApiError(409, "upload_not_complete", f"{upload.filename}: the transcript is {upload.status}.")
    if upload.content_type not in TEXT_TYPES:
        raise ApiError(
            422, "not_a_transcript", f"{upload.filename} is {upload.content_type}, not a transcript (txt, srt, vtt)."
        )
    return {"upload_id": upload.id, "s3_key": upload.s3_key, "filename": upload.filename}


def create_video_job(session: Session, user: User, video_ids: list[str], extra: dict[str, Any]) -> Job:
    """The Lambda batch API: one job over videos an external worker fetches itself (no upload, no original here)."""
    options = {**extra, "videos": list(dict.fromkeys(video_ids)), "delete_after_processing": False}
    job = Job(user_id=user.id, upload_id=None, s3_key="", options=options)
    session.add(job)
    session.flush()
    return job


def create_batch_job(
    session: Session, user: User, uploads: list[Upload], options: dict[str, Any], extra: dict[str, Any]
) -> tuple[Job, list[Job]]:
    """One job over several of the caller's uploads: each upload gets a job of its own, processed like any
    other, and the batch follows them; when every one has ended, the batch's results ZIP holds a folder per
    upload (app/server/worker/batch.py). Returns the batch and its children, in the order of ``uploads``."""
    normalize_options(options)  # bad options are refused once, before any job exists
    batch = Job(user_id=user.id, upload_id=None, s3_key="", status="processing", options={**extra, BATCH_UPLOADS: []})
    session.add(batch)
    session.flush()
    children = []
    for position, upload in enumerate(uploads):
        child = create_job(session, user, upload, options)
        child.options = {**child.options, BATCH_JOB: batch.id}
        children.append(child)
        metadata = {"job_id": child.id, "filename": upload.filename}
        batch.items.append(JobItem(item_id=upload.id, kind=UPLOAD_KIND, position=position, item_metadata=metadata))
    batch.options = {**batch.options, BATCH_UPLOADS: [u.id for u in uploads], BATCH_CHILDREN: [c.id for c in children]}
    session.flush()
    return batch, children


def owned_job(session: Session, user: User, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None or job.user_id != user.id:
        raise not_found("job")
    return job


def upload_for_reserved_job(session: Session, user: User, job_id: str) -> Upload:
    upload = session.scalar(select(Upload).where(Upload.user_id == user.id, Upload.reserved_job_id == job_id))
    if upload is None:
        raise not_found("upload for this job_id")
    return upload


def _result(job: Job) -> ResultSummary:
    return {"zip_size": job.result_size, "zip_sha256": job.result_sha256}


def _stamp(moment: Any) -> str:
    return moment.isoformat() + "Z"


def status_document(job: Job, public_base_url: str = "") -> JobDocument:
    """The job as API.md shows it. With `public_base_url` (AWS_S3_BASE_URL, a public bucket or its CDN) each
    stored output also carries its `url` there."""
    doc: JobDocument = {
        "job_id": job.id,
        "status": job.status,
        "progress": job.progress,
        "upload_id": job.upload_id,
        "s3_key": job.s3_key,
        "options": job.options,
        "items": [_item_document(item, public_base_url) for item in job.items],
        "error": job.error,
        "created_at": _stamp(job.created_at),
        "updated_at": _stamp(job.updated_at),
        "status_url": f"/api/jobs/{job.id}",
    }
    if job.result_sha256:
        doc["result"] = _result(job)
    return doc


def _item_document(item: JobItem, public_base_url: str) -> JobItemDocument:
    doc: JobItemDocument = {
        "item_id": item.item_id,
        "kind": item.kind,
        "status": item.status,
        "progress": item.progress,
        "s3_key": item.s3_key,
        "size": item.size,
        "error": item.error,
        "error_type": item.error_type,
        "metadata": item.item_metadata,
    }
    if public_base_url and item.s3_key:
        doc["url"] = f"{public_base_url}/{item.s3_key}"
    return doc


def summary(job: Job) -> JobSummary:
    return {
        "job_id": job.id,
        "status": job.status,
        "progress": job.progress,
        "upload_id": job.upload_id,
        "s3_key": job.s3_key,
        "title": job.options.get("title"),
        "created_at": _stamp(job.created_at),
        "updated_at": _stamp(job.updated_at),
        "result": _result(job) if job.result_sha256 else None,
    }
