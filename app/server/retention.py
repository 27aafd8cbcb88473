"""How long a finished job's files stay: the results-retention setting, and "Free space" on demand.

A finished job's files are its results ZIP, its outputs and (while no unfinished job reads it) its original
under temp/. They go together, and the job remembers it: ``options["files_removed_at"]``, so the results
routes answer 410 ``results_removed`` with a sentence instead of pointing at a ZIP that is not there.
Unfinished jobs are never touched, nor jobs the caller asks to keep (the app keeps the ones whose results it
has not saved yet).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import Job, JobItem, Upload, utcnow
from .periodic import PeriodicThread

if TYPE_CHECKING:
    from .services import Services

log = logging.getLogger(__name__)

FINISHED = ("completed", "partial", "failed", "cancelled")
UNFINISHED = ("pending", "processing")
REMOVED_AT = "files_removed_at"


@dataclass(frozen=True)
class Freed:
    jobs: int
    objects: int
    bytes: int


def files_removed(job: Job) -> bool:
    return bool((job.options or {}).get(REMOVED_AT))


def _remove(svc: Services, session: Session, key: str | None) -> int:
    """Delete one object; its size, or 0 if it was not there."""
    if not key or key.startswith("building:"):
        return 0
    head = svc.store.head(key)
    if head is None:
        return 0
    svc.store.delete(key)
    return head.size


def remove_job_files(svc: Services, session: Session, job: Job) -> Freed:
    """The job's results ZIP, outputs and (if nothing else needs it) original; the job is marked."""
    freed = objects = 0
    keys = [job.result_key, *session.scalars(select(JobItem.s3_key).where(JobItem.job_id == job.id))]
    original_needed = session.scalar(
        select(Job.id).where(Job.s3_key == job.s3_key, Job.id != job.id, Job.status.in_(UNFINISHED)).limit(1)
    )
    if job.s3_key.startswith(svc.config.temp_prefix) and original_needed is None:
        keys.append(job.s3_key)
        for upload in session.scalars(select(Upload).where(Upload.s3_key == job.s3_key)):
            if upload.status in ("pending", "uploaded"):
                upload.status = "deleted"
    for key in dict.fromkeys(k for k in keys if k):
        size = _remove(svc, session, key)
        freed += size
        objects += 1 if size else 0
    job.options = {**(job.options or {}), REMOVED_AT: datetime.now(UTC).isoformat()}
    job.updated_at = utcnow()
    return Freed(1, objects, freed)


def free_finished_jobs(
    svc: Services, session: Session, user_id: int | None, *, keep: set[str], finished_before: datetime | None
) -> Freed:
    """Remove the files of finished jobs (of one user, or all), except ``keep``; ``finished_before`` bounds age."""
    query = select(Job).where(Job.status.in_(FINISHED))
    if user_id is not None:
        query = query.where(Job.user_id == user_id)
    if finished_before is not None:
        query = query.where(Job.updated_at < finished_before.replace(tzinfo=None))
    total = Freed(0, 0, 0)
    for job in session.scalars(query):
        if job.id in keep or files_removed(job):
            continue
        freed = remove_job_files(svc, session, job)
        total = Freed(total.jobs + freed.jobs, total.objects + freed.objects, total.bytes + freed.bytes)
    return total


class RetentionSweeper:
    """Removes the files of jobs finished more than ``days`` ago, at start-up and then every ``interval_s``."""

    def __init__(self, svc: Services, days: int, interval_s: float) -> None:
        self.svc = svc
        self.days = days
        self._periodic = PeriodicThread("reeldrop-retention-sweep", interval_s, self.sweep_once, "retention sweep")

    def start(self) -> None:
        self._periodic.start()

    def stop(self) -> None:
        self._periodic.stop()

    def sweep_once(self) -> Freed:
        cutoff = datetime.now(UTC) - timedelta(days=self.days)
        with self.svc.db.session() as session:
            freed = free_finished_jobs(self.svc, session, None, keep=set(), finished_before=cutoff)
        if freed.jobs:
            log.info(
                "retention: files of %d jobs finished over %d days ago removed (%d objects, %d bytes)",
                freed.jobs,
                self.days,
                freed.objects,
                freed.bytes,
            )
        return freed
