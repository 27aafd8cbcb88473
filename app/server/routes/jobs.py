"""Jobs: create from an upload, status, list, cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.media.presets import MAX_CLIPS

from .. import jobs_service as jobs
from .. import upload_rules as rules
from .. import uploads_service as svc_uploads
from ..answers import FormJobStarted, JobDocument, JobList, JobStarted, S3JobStarted, SelectionStarted
from ..db import Job, User
from ..errors import ApiError
from ..services import CurrentUser, Services, ServicesDep, SessionDep
from ..worker.batch import children_of, is_batch, refresh_batch, settle_batch, settle_in_background
from .schemas import CreateJobRequest, ProcessS3Request, SelectedVideos
from .upload_extras import receive_small_file

router = APIRouter(tags=["jobs"])
MAX_OFFSET = 2**31 - 1  # a database's OFFSET is a 64-bit integer at most; nobody pages this far


def _start(session: Session, svc: Services, job: Job) -> JobStarted:
    session.commit()  # the worker must see the job before it is queued
    svc.queue.enqueue(job.id)
    return {"job_id": job.id, "status": job.status, "status_url": f"/jobs/{job.id}"}


@router.post("/api/upload/create-job")
@router.post("/api/upload/create-job/", deprecated=True)
@router.post("/api/jobs")
def create_job(
    body: CreateJobRequest,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
) -> JobStarted:
    options = dict(body.options)
    if "transcript" in options:
        raise ApiError(422, "invalid_options", "Give a transcript as transcript_upload_id, not as an option.")
    if body.num_segments is not None:  # the form-upload API's name for the clip count
        options.setdefault("clips", {"count": body.num_segments})
    if body.delete_after_processing is not None:
        options.setdefault("delete_after_processing", body.delete_after_processing)
    for name in ("title", "description", "voice", "tags"):  # the transcript API's top-level fields
        if getattr(body, name) is not None:
            options.setdefault(name, getattr(body, name))
    transcript = jobs.transcript_of(session, user, body.transcript_upload_id) if body.transcript_upload_id else None
    upload_id = body.upload_id or body.video_upload_id
    if upload_id:
        upload = svc_uploads.owned_upload(session, user, upload_id)
    elif body.job_id:
        upload = jobs.upload_for_reserved_job(session, user, body.job_id)
        if body.s3_key and body.s3_key != upload.s3_key:
            raise ApiError(400, "s3_key_mismatch", "s3_key does not belong to this job_id.")
    elif body.s3_key:
        upload = svc_uploads.upload_by_key(session, user, body.s3_key)
    else:
        raise ApiError(422, "invalid_request", "Give upload_id (or video_upload_id, or job_id and s3_key).")
    jobs.ready_upload(session, svc.store, upload)
    jobs.check_active_jobs(session, user, 1, svc.config.max_active_jobs)
    job = jobs.create_job(session, user, upload, options)
    if transcript is not None:
        job.options = {**job.options, "transcript": transcript}
    return _start(session, svc, job)


@router.post("/api/jobs/")
def create_job_from_a_form(
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
    media_file: UploadFile = File(..., description="the video or audio file (up to S3_MULTIPART_THRESHOLD)"),
    num_segments: int | None = Form(default=None, ge=0, le=MAX_CLIPS, description="clips to cut"),
    delete_after_processing: bool | None = Form(default=None),
) -> FormJobStarted:
    """The form-upload API's traditional path: one small file in a multipart form, its job started at once (larger files
    go by presigned upload; JSON bodies to POST /api/jobs)."""
    stored = receive_small_file(media_file, svc, session, user, is_temp=True, allow_text=False)
    options: dict[str, Any] = {}
    if num_segments is not None:
        options["clips"] = {"count": num_segments}
    if delete_after_processing is not None:
        options["delete_after_processing"] = delete_after_processing
    upload = svc_uploads.owned_upload(session, user, stored["upload_id"])
    jobs.check_active_jobs(session, user, 1, svc.config.max_active_jobs)
    answer = _start(session, svc, jobs.create_job(session, user, upload, options))
    kind = rules.file_type(upload.content_type)
    return FormJobStarted(**answer, upload_id=upload.id, s3_key=upload.s3_key, file_type=kind)


@router.post("/channel/download/selected")
def download_selected(
    body: SelectedVideos,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
) -> SelectionStarted:
    """The Lambda batch API: one job over several videos or uploads, one results ZIP with a folder for each (an error
    placeholder where one failed).

    ``video_ids``: the job is handed to the external worker, which fetches and reports each video
    (video-complete / video-failed). ``upload_ids``: each of the caller's uploads is processed by a job of its
    own (listed in the answer's ``jobs``), the batch ends when they all have."""
    extra = {k: v for k, v in (("channel_id", body.channel_id), ("title", body.title)) if v is not None}
    if body.upload_ids is not None:
        return _start_batch(session, svc, user, body.upload_ids, body.options, extra)
    if not svc.config.external_workers:
        raise ApiError(
            409,
            "no_external_worker",
            "Selected videos are fetched and processed by an external worker (LAMBDA_FUNCTION_NAME, "
            "WORKER_WEBHOOK_URL or --external-workers); this server runs none. Give upload_ids to process "
            "uploads here.",
        )
    answer = _start(session, svc, jobs.create_video_job(session, user, body.video_ids or [], extra))
    return SelectionStarted(**answer, results_url=f"/channel/download/results/{answer['job_id']}")


def _start_batch(
    session: Session, svc: Services, user: User, upload_ids: list[str], options: dict[str, Any], extra: dict[str, Any]
) -> SelectionStarted:
    if "transcript" in options:
        raise ApiError(422, "invalid_options", "A transcript goes with one video: give it in POST /api/jobs.")
    uploads = [svc_uploads.owned_upload(session, user, upload_id) for upload_id in dict.fromkeys(upload_ids)]
    for upload in uploads:
        jobs.ready_upload(session, svc.store, upload)
        if upload.content_type in rules.TEXT_TYPES:
            raise ApiError(422, "not_media", f"{upload.filename} is {upload.content_type}, not a video or audio file.")
    jobs.check_active_jobs(session, user, len(uploads), svc.config.max_active_jobs)
    batch, children = jobs.create_batch_job(session, user, uploads, options, extra)
    session.commit()  # the workers must see the jobs before they are queued
    for child in children:
        svc.queue.enqueue(child.id)
    return {
        "job_id": batch.id,
        "status": batch.status,
        "status_url": f"/jobs/{batch.id}",
        "results_url": f"/channel/download/results/{batch.id}",
        "jobs": [{"upload_id": c.upload_id, "job_id": c.id, "status_url": f"/jobs/{c.id}"} for c in children],
    }


@router.post("/process/video/s3")
def process_video_s3(
    body: ProcessS3Request,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
) -> S3JobStarted:
    upload = svc_uploads.upload_by_key(session, user, body.s3_key)
    jobs.ready_upload(session, svc.store, upload)
    options: dict[str, Any] = {
        "extra": {"frame_skip": body.frame_skip, "min_confidence": body.min_confidence},
    }
    if body.delete_after_processing is not None:
        options["delete_after_processing"] = body.delete_after_processing
    jobs.check_active_jobs(session, user, 1, svc.config.max_active_jobs)
    answer = _start(session, svc, jobs.create_job(session, user, upload, options))
    size_mb = (upload.size or 0) / 1_000_000
    message = f"Video processing job created from S3 ({size_mb:.2f}MB). Use the job_id to check status."
    return S3JobStarted(**answer, message=message)


@router.get("/api/jobs")
def list_jobs(
    user: CurrentUser,
    session: SessionDep,
    limit: int = Query(default=20, ge=1, le=100),
    offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
    status: str | None = Query(default=None, max_length=16),
) -> JobList:
    where = [Job.user_id == user.id]
    if status:
        where.append(Job.status == status)
    total = session.scalar(select(func.count()).select_from(Job).where(*where)) or 0
    rows = session.scalars(
        select(Job).where(*where).order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)
    )
    return {"jobs": [jobs.summary(j) for j in rows], "total": total, "limit": limit, "offset": offset}


@router.get("/api/jobs/{job_id}")
@router.get("/jobs/{job_id}", deprecated=True)
def job_status(
    job_id: str,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
) -> JobDocument:
    job = jobs.owned_job(session, user, job_id)
    if is_batch(job.options) and job.status == "processing" and refresh_batch(session, job):
        settle_in_background(svc, job.id)  # every upload's job ended, but the batch was not settled
    return jobs.status_document(job, svc.config.public_base_url)


@router.post("/api/jobs/{job_id}/cancel")
def cancel_job(
    job_id: str,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
) -> JobDocument:
    job = jobs.owned_job(session, user, job_id)
    if job.status in jobs.FINISHED:
        raise ApiError(409, "job_finished", f"The job is already {job.status}.")
    targets = [job]
    if is_batch(job.options):  # a batch is cancelled by cancelling the jobs of its uploads
        targets += [child for child in children_of(session, job).values() if child.status not in jobs.FINISHED]
    for target in targets:
        target.cancel_requested = True
        if target.status == "pending":
            target.status = "cancelled"
            target.error = "Cancelled before processing started."
    session.commit()
    for target in targets[1:]:
        svc.queue.cancel(target.id)
    if is_batch(job.options):
        settle_batch(svc, job.id)  # ends it now unless a child is still stopping (that child's end will)
    else:
        svc.queue.cancel(job.id)
    session.refresh(job)
    return jobs.status_document(job, svc.config.public_base_url)
