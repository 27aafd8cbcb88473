"""A batch: one job over several uploads (POST /channel/download/selected with upload_ids).

Each upload is processed by a job of its own (any worker, built-in or external, runs it like any other). The
batch does no work: its items follow its children, and when the last child ends — whichever way, completed,
failed or cancelled — the batch gets its final status and one results ZIP with a folder per upload (built from
the children's outputs; a child in a batch builds no ZIP of its own). ``settle_batch_of`` is called wherever a
job may have ended; it is idempotent, and the ZIP is built once (finalize's claim).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ..db import Job
from ..jobs_service import BATCH_CHILDREN, BATCH_JOB, FINISHED
from .plan import BATCH_UPLOADS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ..services import Services

log = logging.getLogger(__name__)

# A child's status -> the status of its item in the batch.
_ITEM_STATUS = {"partial": "completed", "processing": "processing", "pending": "pending"}


def is_batch(options: dict[str, Any]) -> bool:
    return BATCH_UPLOADS in options


def children_of(session: Session, batch: Job) -> dict[str, Job]:
    ids = list(batch.options.get(BATCH_CHILDREN, []))
    if not ids:
        return {}
    rows = session.scalars(select(Job).where(Job.id.in_(ids), Job.user_id == batch.user_id))
    return {child.id: child for child in rows}


def refresh_batch(session: Session, batch: Job) -> bool:
    """Copy each child's state onto its item of the batch, and the batch's progress; returns whether every
    child has ended."""
    children = children_of(session, batch)
    over, progress = True, 0
    for item in batch.items:
        child = children.get((item.item_metadata or {}).get("job_id", ""))
        if child is None:
            item.status, item.progress = "failed", 100
            item.error, item.error_type = "The job of this upload no longer exists.", "missing_job"
            progress += 100
            continue
        item.status = _ITEM_STATUS.get(child.status, child.status)
        item.progress = child.progress
        item.error = child.error
        item.error_type = child.status if child.status in ("failed", "cancelled") else None
        progress += 100 if child.status in FINISHED else child.progress
        over = over and child.status in FINISHED
    if batch.items:
        batch.progress = min(99, progress // len(batch.items))  # 100 only with the final status
    return over


def settle_batch_of(svc: Services, job_id: str) -> None:
    """A job may have ended: if it belongs to a batch, bring the batch up to date (and end it if it was the
    last). Never raises: the child's own ending must not fail because of its batch."""
    try:
        with svc.db.session() as session:
            job = session.get(Job, job_id)
            batch_id = job.options.get(BATCH_JOB) if job is not None else None
        if isinstance(batch_id, str):
            settle_batch(svc, batch_id)
    except Exception:
        log.exception("job %s: its batch could not be brought up to date; the next look at it will", job_id)


def settle_batch(svc: Services, batch_id: str) -> str | None:
    """Bring a processing batch up to date; once every child has ended, give it its final status and its
    results ZIP. Returns the final status it was given here, if any."""
    from .finalize import finalize_job

    with svc.db.session() as session:
        batch = session.get(Job, batch_id)
        if batch is None or batch.status != "processing" or not is_batch(batch.options):
            return None
        over = refresh_batch(session, batch)
        if over and batch.cancel_requested:
            batch.status, batch.progress, batch.error = "cancelled", 100, "Cancelled while processing."
            log.info("job %s: batch cancelled", batch_id)
            return "cancelled"
    return finalize_job(svc, batch_id) if over else None


def settle_in_background(svc: Services, batch_id: str) -> None:
    """For a reader that found a batch whose children have all ended but which is still processing (its last
    child ended in a process that stopped before settling it): end it without holding up the reader."""
    threading.Thread(
        target=settle_batch, args=(svc, batch_id), name=f"reeldrop-batch-{batch_id[:8]}", daemon=True
    ).start()
