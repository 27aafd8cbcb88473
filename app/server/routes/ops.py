"""Health, readiness and the admin debug views (the Lambda batch API: /debug/jobs, /debug/memory, /debug/gc)."""

from __future__ import annotations

import gc
import logging
import threading

import psutil
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from ..answers import GcDone, Health, JobCounts, MemoryUse, Readiness
from ..db import Job
from ..services import AdminUser, ServicesDep, SessionDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> Health:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_class=JSONResponse,
    responses={
        200: {"model": Readiness, "description": "The database and the object store answer"},
        503: {"model": Readiness, "description": "One of them does not: `checks` says which"},
    },
)
def readyz(svc: ServicesDep) -> JSONResponse:
    checks: dict[str, str] = {}
    for name, probe in (("database", svc.db.ping), ("s3", svc.store.ping)):
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:  # readiness reports any failure rather than raising
            log.warning("readiness check %s failed: %s", name, type(exc).__name__)
            checks[name] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    answer: Readiness = {"ready": ready, "checks": checks}
    return JSONResponse(answer, status_code=200 if ready else 503)


@router.get("/debug/jobs")
def debug_jobs(_admin: AdminUser, session: SessionDep) -> JobCounts:
    counts = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
    active = session.scalars(select(Job).where(Job.status.in_(("pending", "processing"))).limit(100))
    return {
        "by_status": counts,
        "active": [{"job_id": j.id, "status": j.status, "progress": j.progress} for j in active],
    }


def _rss_and_vms() -> tuple[int, int]:
    info = psutil.Process().memory_info()
    return info.rss, info.vms


@router.get("/debug/memory")
def debug_memory(_admin: AdminUser) -> MemoryUse:
    """This server process's memory, as an operator watches for growth (the Lambda batch API)."""
    rss, vms = _rss_and_vms()
    return {
        "rss_bytes": rss,
        "vms_bytes": vms,
        "threads": threading.active_count(),
        "gc": {"counts": list(gc.get_count()), "tracked_objects": len(gc.get_objects())},
    }


@router.post("/debug/gc")
def debug_gc(_admin: AdminUser) -> GcDone:
    """A full garbage collection, then free heap memory handed back to the system (the Lambda batch API)."""
    from ..malloc_arenas import release_free_memory

    before = _rss_and_vms()[0]
    collected = gc.collect()
    released = release_free_memory()
    after = _rss_and_vms()[0]
    log.info("debug: gc collected %d objects; RSS %d -> %d bytes", collected, before, after)
    return {"collected": collected, "heap_trimmed": released, "rss_before_bytes": before, "rss_after_bytes": after}
