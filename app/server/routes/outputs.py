"""One output of a job (a rendition, a clip, a transcript…): a link to share, whether it is still stored, and
removing it. Owner only; another user's job is a 404 like a missing one."""

from __future__ import annotations

import logging
from pathlib import PurePosixPath

from fastapi import APIRouter, Response
from sqlalchemy.orm import Session

from .. import jobs_service as jobs
from ..answers import OutputDeleted, OutputLink
from ..db import JobItem, User
from ..errors import ApiError, not_found
from ..services import CurrentUser, ServicesDep, SessionDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["outputs"])

DELETED = "deleted"  # an output its owner removed after the job ended (its entry in the ZIP stays)


def _output(session: Session, user: User, job_id: str, item_id: str) -> JobItem:
    job = jobs.owned_job(session, user, job_id)
    item = next((i for i in job.items if i.item_id == item_id), None)
    if item is None:
        raise not_found("output")
    return item


def _stored_key(item: JobItem) -> str:
    if item.status == DELETED:
        raise ApiError(410, "output_deleted", f"{item.item_id} was deleted; its copy in the results ZIP remains.")
    if item.status != "completed" or not item.s3_key:
        raise ApiError(409, "no_output", f"{item.item_id} ended {item.status} and stored no file.")
    return item.s3_key


@router.get("/api/jobs/{job_id}/items/{item_id}/url")
def output_url(
    job_id: str,
    item_id: str,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
) -> OutputLink:
    """A link to one output: presigned for S3_DOWNLOAD_EXPIRATION seconds, and its public URL where the
    bucket is public (AWS_S3_BASE_URL)."""
    key = _stored_key(_output(session, user, job_id, item_id))
    head = svc.store.head(key)
    if head is None:
        raise ApiError(410, "output_missing", f"{item_id} is no longer in storage.")
    expires = svc.config.download_expiry
    answer: OutputLink = {
        "url": svc.store.presigned_get_url(key, expires, PurePosixPath(key).name),
        "expires_in": expires,
        "size": head.size,
        "s3_key": key,
    }
    if svc.config.public_base_url:
        answer["public_url"] = f"{svc.config.public_base_url}/{key}"
    return answer


@router.head(
    "/api/jobs/{job_id}/items/{item_id}",
    response_class=Response,
    responses={
        200: {"description": "Stored: Content-Length is its size (no body, as for any HEAD)"},
        404: {"description": "No such output"},
        410: {"description": "The output was stored once and is gone"},
    },
)
def output_exists(
    job_id: str,
    item_id: str,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
) -> Response:
    """200 with its size while the output is stored; 404 for no such output, 410 once it is gone."""
    item = _output(session, user, job_id, item_id)
    if item.status != "completed" or not item.s3_key:
        return Response(status_code=410 if item.status == DELETED else 404)
    head = svc.store.head(item.s3_key)
    if head is None:
        return Response(status_code=410)
    return Response(status_code=200, headers={"Content-Length": str(head.size), "Content-Type": head.content_type})


@router.delete("/api/jobs/{job_id}/items/{item_id}")
def delete_output(
    job_id: str,
    item_id: str,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
) -> OutputDeleted:
    """Remove one stored output of a finished job (the results ZIP keeps its copy). Deleting twice is fine."""
    item = _output(session, user, job_id, item_id)
    if item.job.status not in jobs.FINISHED:
        raise ApiError(409, "job_not_finished", f"The job is {item.job.status}; delete outputs once it has ended.")
    if item.status != DELETED:
        key = _stored_key(item)
        svc.store.delete(key)
        item.status = DELETED
        log.info("job %s: output %s deleted by its owner", job_id, item_id)
    return {"job_id": job_id, "item_id": item_id, "status": item.status, "s3_key": item.s3_key}
