"""The job's state in the database, as the worker changes it: plan, item progress, cancel, hand-back.

Every write is a short session of its own: the API reads the same rows while a job runs, possibly from
another machine (PostgreSQL) or another thread (SQLite in WAL mode). A worker's writes go through its
``JobLease`` (see lease.py), so they stop the moment the job has been given to another worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import ServerConfig
from ..db import Database, Job, JobItem
from .lease import JobLease
from .plan import PlannedItem, plan_items

log = logging.getLogger(__name__)

FINAL_ITEM_STATES = ("completed", "failed", "cancelled", "skipped")
# Steps whose finished output a later attempt of the job can keep (validate and metadata always run again).
KEEPABLE_KINDS = ("rendition", "audio", "clip", "thumbnail")
# How much of the job's progress bar each kind of step fills (renditions dominate the work).
KIND_WEIGHTS = {"validate": 1.0, "rendition": 4.0, "audio": 1.0, "clip": 1.0, "thumbnail": 0.2, "metadata": 0.1}
_PROGRESS_WRITE_INTERVAL_S = 0.5
_CANCEL_POLL_INTERVAL_S = 0.5


@dataclass(frozen=True)
class JobView:
    """A plain copy of what the worker needs, so no ORM object outlives its session."""

    job_id: str
    s3_key: str
    upload_id: str | None
    options: dict[str, Any]
    created_at: str
    plan: tuple[PlannedItem, ...]


def ensure_plan(db: Database, config: ServerConfig, job_id: str) -> JobView | None:
    """Create the job's items from its options (once) and return a view of it; None if there is no job."""
    with db.session() as session:
        job = session.get(Job, job_id)
        if job is None:
            return None
        plan = plan_items(config, job.id, job.s3_key, job.options)
        if not job.items:
            for position, planned in enumerate(plan):
                job.items.append(JobItem(item_id=planned.item_id, kind=planned.kind, position=position))
        return JobView(
            job.id, job.s3_key, job.upload_id, dict(job.options), job.created_at.isoformat() + "Z", tuple(plan)
        )


@dataclass(frozen=True)
class KeptOutput:
    s3_key: str
    size: int | None


def kept_outputs(db: Database, job_id: str) -> dict[str, KeptOutput]:
    """Outputs an earlier attempt of the job finished (it was taken back from a lost worker), by item id."""
    with db.session() as session:
        items = session.scalars(
            select(JobItem).where(
                JobItem.job_id == job_id, JobItem.status == "completed", JobItem.kind.in_(KEEPABLE_KINDS)
            )
        )
        return {i.item_id: KeptOutput(i.s3_key, i.size) for i in items if i.s3_key}


def _writing(db: Database, lease: JobLease | None) -> AbstractContextManager[Session]:
    # A running worker writes only while the job is still its own; other callers (the API, start-up) as is.
    return lease.session() if lease is not None else db.session()


def close_open_items(
    db: Database, job_id: str, status: str, error: str | None = None, lease: JobLease | None = None
) -> None:
    """Give every item that has not ended the status ``status`` (cancelled, skipped...)."""
    with _writing(db, lease) as session:
        for item in session.scalars(select(JobItem).where(JobItem.job_id == job_id)):
            if item.status not in FINAL_ITEM_STATES:
                item.status = status
                if error and not item.error:
                    item.error = error


def set_job(db: Database, job_id: str, lease: JobLease | None = None, **changes: Any) -> None:
    with _writing(db, lease) as session:
        job = session.get(Job, job_id)
        if job is not None:
            for name, value in changes.items():
                setattr(job, name, value)


def reset_to_pending(db: Database, job_id: str, lease: JobLease | None = None) -> None:
    """A worker that shuts down mid-job hands the job back so that the next worker starts it afresh."""
    with _writing(db, lease) as session:
        job = session.get(Job, job_id)
        if job is None or job.status != "processing":
            return
        job.status, job.progress = "pending", 0
        job.worker_id, job.heartbeat_at, job.heartbeat_timeout_s = None, None, None
        for item in job.items:
            item.status, item.progress, item.error, item.error_type = "pending", 0, None, None


class JobRecorder:
    """Item statuses and a throttled, weighted job progress (0-100, never 100 before the job ends)."""

    def __init__(self, lease: JobLease, plan: tuple[PlannedItem, ...], kept: Iterable[str] = ()) -> None:
        self.lease = lease
        self.job_id = lease.job_id
        self._weights = {p.item_id: KIND_WEIGHTS.get(p.kind, 1.0) for p in plan}
        self._done: dict[str, float] = dict.fromkeys(self._weights, 0.0)
        for item_id in kept:  # outputs an earlier attempt finished count as done from the start
            self._done[item_id] = 100.0
        self._last_write = 0.0
        self._lock = threading.Lock()

    def job_percent(self) -> int:
        total = sum(self._weights.values()) or 1.0
        value = sum(self._weights[i] * self._done[i] for i in self._weights) / total
        return min(99, int(value))

    def start(self, item_id: str) -> None:
        with self._lock:
            self._done[item_id] = 0.0  # a kept output found missing from storage is made again from zero
        self._write(item_id, status="processing", progress=0)

    def progress(self, item_id: str, percent: float | None) -> None:
        if percent is None:
            return
        with self._lock:
            self._done[item_id] = max(self._done.get(item_id, 0.0), min(100.0, percent))
            now = time.monotonic()
            if now - self._last_write < _PROGRESS_WRITE_INTERVAL_S:
                return
            self._last_write = now
        self._write(item_id, progress=int(self._done[item_id]))

    def finish(self, item_id: str, status: str, **fields: Any) -> None:
        with self._lock:
            self._done[item_id] = 100.0
        progress = 100 if status == "completed" else fields.pop("progress", None)
        changes = {"status": status, **fields}
        if progress is not None:
            changes["progress"] = progress
        self._write(item_id, **changes)

    def _write(self, item_id: str, **changes: Any) -> None:
        with self.lease.session() as session:
            item = session.scalar(select(JobItem).where(JobItem.job_id == self.job_id, JobItem.item_id == item_id))
            if item is not None:
                for name, value in changes.items():
                    setattr(item, name, value)
            job = session.get(Job, self.job_id)
            if job is not None and job.status == "processing":
                job.progress = self.job_percent()


class JobCancelToken:
    """A cancel token (``is_set``/``wait``) that also sees a cancel asked for on another host.

    The API sets ``jobs.cancel_requested``; this token polls it at most twice a second while ffmpeg runs,
    and ``run_ffmpeg`` kills ffmpeg as soon as it trips. ``local`` is set by the in-process queue (no wait),
    ``shutdown`` by a worker that is stopping (the job is then handed back, not cancelled), ``lost`` when
    the job was taken over by another worker (this one then stops and writes nothing).
    """

    def __init__(
        self,
        db: Database,
        job_id: str,
        local: threading.Event,
        shutdown: threading.Event,
        lost: threading.Event | None = None,
    ) -> None:
        self.db = db
        self.job_id = job_id
        self.local = local
        self.shutdown = shutdown
        self.lost = lost or threading.Event()
        self._requested = False
        self._checked_at = 0.0

    @property
    def taken_over(self) -> bool:
        return self.lost.is_set()

    @property
    def by_shutdown(self) -> bool:
        return self.shutdown.is_set() and not self._requested and not self.local.is_set() and not self.taken_over

    def is_set(self) -> bool:
        if self.local.is_set() or self.shutdown.is_set() or self.lost.is_set() or self._requested:
            return True
        now = time.monotonic()
        if now - self._checked_at >= _CANCEL_POLL_INTERVAL_S:
            self._checked_at = now
            self._requested = self._ask_database()
        return self._requested

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = _CANCEL_POLL_INTERVAL_S if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return False
            self.local.wait(min(left, _CANCEL_POLL_INTERVAL_S))
        return True

    def _ask_database(self) -> bool:
        try:
            with self.db.session() as session:
                return bool(session.scalar(select(Job.cancel_requested).where(Job.id == self.job_id)))
        except Exception:  # a database blip must not kill a running encode
            log.warning("job %s: could not read the cancel flag", self.job_id, exc_info=True)
            return False
