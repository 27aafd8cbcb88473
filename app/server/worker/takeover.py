"""Taking jobs back from workers that stopped responding (SIGKILL, a lost machine, a long partition).

A built-in worker beats a heartbeat on the job it runs (lease.py). A job still ``processing`` whose
heartbeat is older than the timeout its worker declared is stale: its worker is gone, and with a Redis
queue its queue entry went with it. The sweep runs in every process that serves the built-in queue (the
API server and each ``reeldrop-server worker``), so any one of them finds it; they may race, and so may a
worker that was only slow. Each take-over is therefore one conditional UPDATE (compare-and-set) on the
job's status, worker id, loss count and heartbeat as they were read: exactly one sweeper's UPDATE matches,
and a heartbeat written in between makes it match none. The job's items change in the same transaction.

What the status document says of a job taken back (it stays honest throughout):

- ``pending``, progress 0, no error: it waits for a worker again, as a new job does. Items that had
  ``completed`` keep their status, output, size and metadata (their files are in storage; the next worker
  keeps them rather than making them again); every other item is ``pending`` again.
- ``failed`` when its worker has stopped responding ``max_losses`` times (a job that kills its workers must
  not take them all down in turn): the error says so, and the unfinished items are ``failed`` with
  error_type ``worker_lost``. Its original is kept, as for any failed job.
- ``cancelled`` when a cancel had been asked for: the worker that would have honoured it is gone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Update, select, update

from ..db import Database, Job, JobItem, utcnow
from ..periodic import PeriodicThread
from .lease import database_now, rows_updated
from .state import FINAL_ITEM_STATES

log = logging.getLogger(__name__)

WORKER_LOST = "worker_lost"


def lost_error(losses: int) -> str:
    times = "once" if losses == 1 else f"{losses} times"
    return f"The worker processing it stopped responding {times} (its process or machine was lost); given up."


@dataclass(frozen=True)
class StaleJob:
    """A processing job's lease as the sweep read it: the take-over succeeds only if nothing changed since."""

    job_id: str
    worker_id: str
    heartbeat_at: datetime | None
    losses: int
    cancel_requested: bool
    silent_s: float | None


def find_stale_jobs(db: Database, default_timeout_s: float) -> list[StaleJob]:
    """Processing jobs of built-in workers whose heartbeat is older than their worker's timeout."""
    with db.session() as session:
        now = database_now(session)  # the clock the heartbeats were stamped with
        rows = session.execute(
            select(
                Job.id,
                Job.worker_id,
                Job.heartbeat_at,
                Job.heartbeat_timeout_s,
                Job.worker_losses,
                Job.cancel_requested,
            ).where(Job.status == "processing", Job.worker_id.is_not(None))
        ).all()
    stale = []
    for job_id, worker_id, beat, timeout_s, losses, cancel in rows:
        assert worker_id is not None  # selected so
        silent = (now - beat).total_seconds() if beat is not None else None
        if silent is None or silent > (timeout_s or default_timeout_s):
            stale.append(StaleJob(job_id, worker_id, beat, losses or 0, bool(cancel), silent))
    return stale


def take_over(db: Database, stale: StaleJob, max_losses: int) -> str | None:
    """Take one stale job back: "requeued", "failed" or "cancelled"; None when another got there first."""
    losses = stale.losses + 1
    outcome: str
    job_values: dict[str, Any]
    if stale.cancel_requested:
        outcome, job_values = "cancelled", {"status": "cancelled", "error": "Cancelled while processing."}
    elif losses >= max_losses:
        outcome, job_values = "failed", {"status": "failed", "progress": 100, "error": lost_error(losses)}
    else:
        outcome, job_values = "requeued", {"status": "pending", "progress": 0, "error": None}
    # The heartbeat as read, or older: a beat since then means the worker is alive, and the UPDATE misses.
    beat = Job.heartbeat_at.is_(None) if stale.heartbeat_at is None else Job.heartbeat_at <= stale.heartbeat_at
    with db.session() as session:
        won = rows_updated(
            session,
            update(Job)
            .where(
                Job.id == stale.job_id,
                Job.status == "processing",
                Job.worker_id == stale.worker_id,
                Job.worker_losses == stale.losses,
                beat,
            )
            .values(
                **job_values,
                worker_id=None,
                heartbeat_at=None,
                heartbeat_timeout_s=None,
                worker_losses=losses,
                result_key=None,  # a ZIP the lost worker had begun ("building:") is the next worker's to make
                updated_at=utcnow(),
            ),
        )
        if won != 1:
            return None
        rows_updated(session, _items_update(stale.job_id, outcome, losses))
    return outcome


def _items_update(job_id: str, outcome: str, losses: int) -> Update:
    items = update(JobItem).where(JobItem.job_id == job_id)
    if outcome == "requeued":
        # Completed outputs stay (the next worker keeps them); failures of the lost attempt are forgotten:
        # a dying machine may have caused them.
        return items.where(JobItem.status != "completed").values(
            status="pending", progress=0, error=None, error_type=None, s3_key=None, size=None, updated_at=utcnow()
        )
    open_items = items.where(JobItem.status.not_in(FINAL_ITEM_STATES))
    if outcome == "cancelled":
        return open_items.values(status="cancelled", updated_at=utcnow())
    return open_items.values(status="failed", error=lost_error(losses), error_type=WORKER_LOST, updated_at=utcnow())


def sweep_stale_jobs(db: Database, default_timeout_s: float, max_losses: int) -> dict[str, list[str]]:
    """One sweep: every stale job taken back. Returns the job ids by outcome (requeued, failed, cancelled)."""
    outcomes: dict[str, list[str]] = {"requeued": [], "failed": [], "cancelled": []}
    for stale in find_stale_jobs(db, default_timeout_s):
        outcome = take_over(db, stale, max_losses)
        silent = "never beat" if stale.silent_s is None else f"silent for {stale.silent_s:.0f} s"
        if outcome is None:
            log.info("job %s: another sweeper, or its worker, got there first", stale.job_id)
            continue
        log.warning(
            "job %s: worker %s stopped responding (%s, loss %d of at most %d); job %s",
            stale.job_id,
            stale.worker_id,
            silent,
            stale.losses + 1,
            max_losses,
            {"requeued": "queued again", "failed": "failed", "cancelled": "cancelled as asked"}[outcome],
        )
        outcomes[outcome].append(stale.job_id)
    return outcomes


class StaleJobSweeper:
    """Sweeps every ``timeout_s / 4`` seconds and puts the jobs it took back on the queue again.

    A queue that cannot be reached (Redis down) keeps the job id here until a later sweep gets it in:
    the job is already ``pending`` in the database, so without that it would wait for ever.
    """

    def __init__(self, db: Database, timeout_s: float, max_losses: int, enqueue: Callable[[str], Any]) -> None:
        self.db = db
        self.timeout_s = timeout_s
        self.max_losses = max_losses
        self.enqueue = enqueue
        self._unqueued: list[str] = []
        self._lock = threading.Lock()  # sweep_once may be called by a test while the thread sweeps
        self._periodic = PeriodicThread("reeldrop-stale-job-sweep", timeout_s / 4, self.sweep_once, "stale-job sweep")

    def start(self) -> None:
        self._periodic.start()

    def stop(self) -> None:
        self._periodic.stop()

    def sweep_once(self) -> dict[str, list[str]]:
        with self._lock:
            outcomes = sweep_stale_jobs(self.db, self.timeout_s, self.max_losses)
            waiting, self._unqueued = [*self._unqueued, *outcomes["requeued"]], []
            for job_id in waiting:
                try:
                    self.enqueue(job_id)
                except Exception:
                    log.warning("job %s: could not be queued again; retrying at the next sweep", job_id, exc_info=True)
                    self._unqueued.append(job_id)
            return outcomes
