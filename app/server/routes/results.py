"""A job's results ZIP: streamed through the API (with Range) or handed out as a presigned GET. Owner only."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from .. import jobs_service as jobs
from ..answers import ResultsLink, file_answer
from ..byte_ranges import Unsatisfiable, parse_byte_range
from ..db import Job, User
from ..errors import ApiError
from ..retention import files_removed
from ..services import CurrentUser, Services, ServicesDep, SessionDep
from ..storage import ObjectHead

log = logging.getLogger(__name__)
router = APIRouter(tags=["results"])

CHUNK = 1024 * 1024


def _ready_job(session: Session, user: User, job_id: str) -> Job:
    job = jobs.owned_job(session, user, job_id)
    if job.status in ("pending", "processing"):
        raise ApiError(409, "results_not_ready", f"The job is {job.status}; its results are not ready yet.")
    if files_removed(job):
        raise ApiError(
            410,
            "results_removed",
            "The results of this job were removed to free space (Free space, or the results-retention setting).",
        )
    if not job.result_sha256 or not job.result_key:
        raise ApiError(409, "no_results", f"The job ended {job.status} and produced no results ZIP.")
    return job


def _stored(svc: Services, job: Job) -> ObjectHead:
    assert job.result_key is not None
    head = svc.store.head(job.result_key)
    if head is None:
        raise ApiError(410, "results_missing", "The results ZIP is no longer in storage.")
    return head


def _download_name(job: Job) -> str:
    return f"reeldrop-results-{job.id}.zip"


def _body(svc: Services, key: str, byte_range: str | None) -> Iterator[bytes]:
    body = svc.store.open_stream(key, byte_range)["Body"]
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


# The ZIP's bytes, documented as such (a route's default is a JSON answer).
ZIP_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: file_answer("application/zip", "The results ZIP"),
    206: file_answer("application/zip", "The asked byte range of the results ZIP (Range, If-Range)"),
}


@router.get("/api/jobs/{job_id}/results.zip", response_class=Response, responses=ZIP_ANSWERS)
@router.get("/channel/download/results/{job_id}", deprecated=True, response_class=Response, responses=ZIP_ANSWERS)
@router.head("/api/jobs/{job_id}/results.zip", include_in_schema=False)
@router.head("/channel/download/results/{job_id}", include_in_schema=False)
def results_zip(
    job_id: str,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
) -> Response:
    job = _ready_job(session, user, job_id)
    head = _stored(svc, job)
    etag = f'"{job.result_sha256}"'
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": format_datetime(head.last_modified.astimezone(UTC), usegmt=True),
        "Content-Disposition": f'attachment; filename="{_download_name(job)}"',
        "X-Content-SHA256": job.result_sha256 or "",
    }
    if_range = request.headers.get("if-range")
    wanted = request.headers.get("range")
    if if_range is not None and if_range.strip() != etag:
        wanted = None  # the client's partial copy is of another ZIP: send this one whole
    try:
        span = parse_byte_range(wanted, head.size)
    except Unsatisfiable:
        detail = {"detail": f"The range is outside the file's {head.size} bytes.", "code": "range_not_satisfiable"}
        return JSONResponse(detail, status_code=416, headers={"Content-Range": f"bytes */{head.size}"})
    status = 200
    byte_range = None
    length = head.size
    if span is not None:
        first, last = span
        status, byte_range, length = 206, f"bytes={first}-{last}", last - first + 1
        headers["Content-Range"] = f"bytes {first}-{last}/{head.size}"
    headers["Content-Length"] = str(length)
    assert job.result_key is not None
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type="application/zip")
    return StreamingResponse(
        _body(svc, job.result_key, byte_range), status_code=status, headers=headers, media_type="application/zip"
    )


@router.get("/api/jobs/{job_id}/results/url")
def results_url(
    job_id: str,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
) -> ResultsLink:
    job = _ready_job(session, user, job_id)
    head = _stored(svc, job)
    expires = svc.config.download_expiry
    assert job.result_key is not None
    url = svc.store.presigned_get_url(job.result_key, expires, _download_name(job))
    return {"url": url, "expires_in": expires, "size": head.size, "sha256": job.result_sha256}
