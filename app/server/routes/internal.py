"""Worker callbacks (the Lambda batch API): a worker anywhere reports each step of a job; signed, idempotent.

``GET /internal/job/{id}`` hands a worker its work order (the original's key, the options and the
planned steps with their target keys); the two POSTs report one step each. When every step has ended
the server finishes the job itself: status, results ZIP, clean-up of the original.

A worker that reports only what it made (the batch API's Lambda reports its videos, and knows nothing of the
planned validate or metadata steps) says when it is through: ``"last": true`` on its final report, or
``POST /internal/job/{id}/finished``. The steps it never reported are then skipped, and the job finishes
with what was reported.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session

from .. import jobs_service as jobs
from ..answers import JobDocument, WorkOrder
from ..db import Job, JobItem
from ..errors import ApiError, not_found
from ..services import Services, ServicesDep, SessionDep
from ..signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, Scheme, SignatureError, verify
from ..worker.batch import settle_batch_of
from ..worker.dispatch import work_order as work_order_of
from ..worker.finalize import finalize_job
from ..worker.plan import ZIP_FOLDERS, job_prefixes
from ..worker.state import FINAL_ITEM_STATES

log = logging.getLogger(__name__)
router = APIRouter(tags=["worker callbacks"])

_ITEM_ID = r"^[A-Za-z0-9._:-]{1,128}$"


_JOB_ID_FIELD = Field(
    default=None,
    max_length=64,
    description="this call's job; when given it must match the URL's. The signature covers the body, not the "
    "URL, so a worker that names its job in the body cannot have a captured call replayed to another job.",
)


_LAST_FIELD = Field(
    default=False,
    description="the worker's last report for this job: the steps it has not reported are skipped and the job "
    "finishes (a worker that reports only its videos says so on the last one)",
)


class VideoComplete(BaseModel):
    job_id: str | None = _JOB_ID_FIELD
    last: bool = _LAST_FIELD
    video_id: str = Field(pattern=_ITEM_ID, description="the step's item_id (an unknown id adds a step)")
    s3_key: str | None = Field(default=None, max_length=1024, description="the output; omit for a step with none")
    transcript_length: int | None = Field(default=None, ge=0, le=2**31 - 1)
    metadata: dict[str, Any] | None = None


class VideoFailed(BaseModel):
    job_id: str | None = _JOB_ID_FIELD
    last: bool = _LAST_FIELD
    video_id: str = Field(pattern=_ITEM_ID)
    error: str = Field(min_length=1, max_length=5000)
    error_type: str = Field(min_length=1, max_length=64)


class WorkerFinished(BaseModel):
    job_id: str | None = _JOB_ID_FIELD


@dataclass(frozen=True)
class SignedCall:
    body: bytes
    replayed: bool
    """This very signature was taken before (a retry, or a capture played again): nothing is applied twice."""


async def signed_body(request: Request, svc: ServicesDep) -> bytes:
    """The raw body of a signed read (GET), once its signature checks out; 401 otherwise."""
    return (await signed_call(request, svc)).body


async def signed_call(request: Request, svc: ServicesDep) -> SignedCall:
    """The raw body, once its HMAC signature and timestamp check out (401, and no change, otherwise), and
    whether the same signed call was already taken (signing.py)."""
    body = await request.body()
    query = request.url.query
    target = request.url.path + (f"?{query}" if query else "")
    header = request.headers.get(SIGNATURE_HEADER) or ""
    first_scheme = not header.startswith(Scheme.V2.value)
    signed = target.encode() if first_scheme and request.method == "GET" else body
    try:
        scheme = verify(
            svc.config.worker_secret,
            request.headers.get(TIMESTAMP_HEADER),
            header,
            signed,
            method=request.method,
            target=target,
        )
        if scheme is Scheme.V1 and request.method != "GET":
            _body_names_the_job(body, request.path_params.get("job_id", ""))
    except SignatureError as exc:
        log.warning("refused a worker call to %s %s: %s", request.method, request.url.path, exc)
        raise ApiError(401, "bad_signature", f"Refused: {exc}.") from None
    replayed = request.method != "GET" and not svc.replays.first_time(header)
    if replayed:
        log.info("a worker call to %s %s came again; it is answered, not applied", request.method, request.url.path)
    return SignedCall(body, replayed)


SignedBody = Annotated[bytes, Depends(signed_body)]
SignedCallDep = Annotated[SignedCall, Depends(signed_call)]


def _body_names_the_job(body: bytes, job_id: str) -> None:
    """The first scheme signs no route: it binds a call to its job only when the body names the job."""
    try:
        named = json.loads(body or b"{}").get("job_id")
    except (ValueError, AttributeError):
        named = None
    if named != job_id:
        raise SignatureError(
            "a sha256= signature does not sign the route; name the job in the body (job_id) or sign with v2="
        )


ReportT = TypeVar("ReportT", VideoComplete, VideoFailed, WorkerFinished)


def _parse(model: type[ReportT], body: bytes, job_id: str) -> ReportT:
    """The report in ``body``, for the job in the URL (a body that names another job is refused)."""
    try:
        report = model.model_validate_json(body or b"{}")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise ApiError(422, "invalid_request", f"{where}: {first.get('msg', 'invalid')}") from None
    if report.job_id is not None and report.job_id != job_id:
        raise ApiError(422, "job_id_mismatch", "The body names another job than the URL; nothing was changed.")
    return report


def _job(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise not_found("job")
    return job


@router.get("/internal/job/{job_id}")
def work_order(
    job_id: str,
    _signed: SignedBody,
    session: SessionDep,
    svc: ServicesDep,
) -> WorkOrder:
    return work_order_of(svc, _job(session, job_id))


def _same(item: JobItem | None, status: str, s3_key: str | None, error: str | None) -> bool:
    return item is not None and item.status == status and item.s3_key == s3_key and item.error == error


def _report(
    session: Session,
    svc: Services,
    background: BackgroundTasks,
    job_id: str,
    item_id: str,
    status: str,
    last: bool = False,
    **fields: Any,
) -> JobDocument:
    job = _job(session, job_id)
    item = next((i for i in job.items if i.item_id == item_id), None)
    if _same(item, status, fields.get("s3_key"), fields.get("error")) and not (last and job.status == "processing"):
        return jobs.status_document(job)  # a repeated call: same answer, nothing changes
    if job.status == "cancelled":
        raise ApiError(409, "job_cancelled", "The job was cancelled; stop working on it.")
    if job.status in jobs.FINISHED:
        raise ApiError(409, "job_finished", f"The job is already {job.status}.")
    if item is None:
        kind = str((fields.get("item_metadata") or {}).get("kind", "output"))
        kind = kind if kind in ZIP_FOLDERS else "output"
        item = JobItem(item_id=item_id, kind=kind, position=max((i.position for i in job.items), default=-1) + 1)
        job.items.append(item)
    item.status = status
    item.progress = 100
    for name, value in fields.items():
        setattr(item, name, value)
    if job.status == "pending":
        job.status = "processing"
    if item.kind == "validate" and status == "failed":
        job.status, job.progress, job.error = "failed", 100, item.error
        for other in job.items:
            if other.status not in FINAL_ITEM_STATES:
                other.status, other.error = "skipped", "Not run: the uploaded file could not be used."
    return _after_report(session, svc, background, job, last)


def _after_report(session: Session, svc: Services, background: BackgroundTasks, job: Job, last: bool) -> JobDocument:
    if last and job.status == "processing":
        for other in job.items:
            if other.status not in FINAL_ITEM_STATES:
                other.status, other.error = "skipped", "Not reported by the worker."
    ended = sum(1 for i in job.items if i.status in FINAL_ITEM_STATES)
    if job.status == "processing":
        job.progress = min(99, 100 * ended // max(1, len(job.items)))
    session.commit()
    if job.status == "processing" and ended == len(job.items):
        background.add_task(finalize_job, svc, job.id)  # after the answer: the ZIP may take a while
    elif job.status in jobs.FINISHED:
        background.add_task(settle_batch_of, svc, job.id)  # ended by a failed validation: its batch follows
    session.refresh(job)
    return jobs.status_document(job)


@router.post("/internal/job/{job_id}/video-complete")
def video_complete(
    job_id: str,
    background: BackgroundTasks,
    call: SignedCallDep,
    session: SessionDep,
    svc: ServicesDep,
) -> JobDocument:
    report = _parse(VideoComplete, call.body, job_id)
    if call.replayed:
        return jobs.status_document(_job(session, job_id))
    metadata = dict(report.metadata or {})
    if report.transcript_length is not None:
        metadata["transcript_length"] = report.transcript_length
    size = None
    if report.s3_key is not None:
        _check_output_key(svc, job_id, report.s3_key)
        head = svc.store.head(report.s3_key)
        if head is None:
            raise ApiError(409, "output_missing", f"{report.s3_key} is not in storage; upload it first.")
        size = head.size
    return _report(
        session,
        svc,
        background,
        job_id,
        report.video_id,
        "completed",
        report.last,
        s3_key=report.s3_key,
        size=size,
        error=None,
        error_type=None,
        item_metadata=metadata or None,
    )


@router.post("/internal/job/{job_id}/video-failed")
def video_failed(
    job_id: str,
    background: BackgroundTasks,
    call: SignedCallDep,
    session: SessionDep,
    svc: ServicesDep,
) -> JobDocument:
    report = _parse(VideoFailed, call.body, job_id)
    if call.replayed:
        return jobs.status_document(_job(session, job_id))
    return _report(
        session,
        svc,
        background,
        job_id,
        report.video_id,
        "failed",
        report.last,
        s3_key=None,
        size=None,
        error=report.error,
        error_type=report.error_type,
    )


@router.post("/internal/job/{job_id}/finished")
def worker_finished(
    job_id: str,
    background: BackgroundTasks,
    call: SignedCallDep,
    session: SessionDep,
    svc: ServicesDep,
) -> JobDocument:
    """The worker has reported everything it will: what it did not report is skipped, and the job finishes."""
    _parse(WorkerFinished, call.body, job_id)
    job = _job(session, job_id)
    if call.replayed:
        return jobs.status_document(job)
    if job.status == "cancelled":
        raise ApiError(409, "job_cancelled", "The job was cancelled; stop working on it.")
    if job.status in jobs.FINISHED:
        return jobs.status_document(job)  # finished already (a repeated call, or its last report said so)
    if job.status == "pending":
        job.status = "processing"
    return _after_report(session, svc, background, job, last=True)


def _check_output_key(svc: Services, job_id: str, s3_key: str) -> None:
    """Where a worker may say it stored an output: under the job's own prefixes; with TRUST_WORKER_KEYS
    anywhere but temp/ (the originals of every user), as the batch API's Lambda writes user123/job456/…"""
    parts = s3_key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ApiError(422, "invalid_s3_key", "An output key has no empty, '.' or '..' segments.")
    if svc.config.trust_worker_keys:
        if s3_key.startswith(svc.config.temp_prefix):
            raise ApiError(422, "s3_key_outside_job", f"Outputs are never stored under {svc.config.temp_prefix}.")
        return
    if not s3_key.startswith(job_prefixes(svc.config, job_id)):
        allowed = " or ".join(job_prefixes(svc.config, job_id))
        raise ApiError(
            422,
            "s3_key_outside_job",
            f"Outputs of this job must be stored under {allowed} (TRUST_WORKER_KEYS=true lets trusted workers "
            "store them elsewhere).",
        )
