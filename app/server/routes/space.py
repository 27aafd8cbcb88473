"""Disk space: what a user's files take on this server, and "Free space" (the files of finished jobs)."""

from __future__ import annotations

from fastapi import APIRouter

from .. import uploads_service as svc_uploads
from ..answers import SpaceFreed
from ..retention import free_finished_jobs
from ..services import CurrentUser, ServicesDep, SessionDep
from .schemas import FreeSpaceRequest

router = APIRouter(tags=["space"])


@router.post("/api/storage/free")
def free_space(
    body: FreeSpaceRequest,
    user: CurrentUser,
    session: SessionDep,
    svc: ServicesDep,
) -> SpaceFreed:
    """Remove the results, outputs and originals of the caller's finished jobs, except those to keep."""
    freed = free_finished_jobs(svc, session, user.id, keep=set(body.keep_job_ids), finished_before=None)
    return {
        "freed_bytes": freed.bytes,
        "removed_objects": freed.objects,
        "jobs": freed.jobs,
        "used_bytes": svc_uploads.used_bytes(session, user),
    }
