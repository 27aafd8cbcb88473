"""A worker's lease on the job it runs: claimed under a unique worker id, kept alive by a heartbeat.

A worker that dies without a word (SIGKILL, a lost machine) stops beating, and the stale-job sweep
(``takeover.py``) gives its job to another worker. Every write a worker makes to a job it runs goes through
``JobLease.session()``, which checks in the same transaction that the lease is still this worker's; so a
worker that was only slow (a long database outage) and lost its job meanwhile stops without writing over
what the new worker records.

Heartbeats are stamped with the database's clock, never the hosts': workers on several machines whose
clocks drift apart would otherwise look dead (or alive) to a sweeper on another machine.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, cast

from sqlalchemy import DateTime, Update, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement

from ..db import Database, Job, utcnow
from .errors import JobTakenOver

log = logging.getLogger(__name__)


class db_utcnow(FunctionElement[datetime]):  # lower case: it reads like the SQL function it stands for
    """The database server's current UTC time, as the naive DATETIME that ``utcnow()`` stores."""

    type = DateTime()
    inherit_cache = True
    name = "db_utcnow"


@compiles(db_utcnow, "sqlite")
def _sqlite_utcnow(_element: db_utcnow, _compiler: SQLCompiler, **_kw: Any) -> str:
    # %f is "SS.SSS": padded to the six fraction digits SQLAlchemy writes, so stored values compare as text.
    return "strftime('%Y-%m-%d %H:%M:%f000', 'now')"


@compiles(db_utcnow, "postgresql")
def _postgresql_utcnow(_element: db_utcnow, _compiler: SQLCompiler, **_kw: Any) -> str:
    # clock_timestamp(), not now(): now() is the start of the transaction.
    return "timezone('utc', clock_timestamp())"


@compiles(db_utcnow)
def _other_utcnow(_element: db_utcnow, _compiler: SQLCompiler, **_kw: Any) -> str:
    return "CURRENT_TIMESTAMP"  # SQLite and PostgreSQL are the supported databases; this keeps others working


def rows_updated(session: Session, statement: Update) -> int:
    """Run an UPDATE; how many rows it changed (the compare-and-set's answer)."""
    result = session.execute(statement.execution_options(synchronize_session=False))
    return cast("CursorResult[Any]", result).rowcount


def database_now(session: Session) -> datetime:
    value = session.scalar(select(db_utcnow()))
    assert value is not None
    return value


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def new_worker_id() -> str:
    # host:pid names the process in logs; the random tag makes every claim a lease of its own, so a job taken
    # back and claimed again by the same process is not mistaken for the one its earlier thread still runs.
    return f"{worker_name()}:{secrets.token_hex(3)}"


class JobLease:
    """This worker's hold on one running job; ``lost`` is set once the job is found to be someone else's."""

    def __init__(self, db: Database, job_id: str, worker_id: str, timeout_s: int) -> None:
        self.db = db
        self.job_id = job_id
        self.worker_id = worker_id
        self.timeout_s = timeout_s
        self.lost = threading.Event()

    @property
    def tag(self) -> str:
        """The part of the worker id unique to this claim (names the claim's scratch folder)."""
        return self.worker_id.rsplit(":", 1)[-1]

    @classmethod
    def claim(cls, db: Database, job_id: str, timeout_s: int) -> JobLease | None:
        """pending -> processing, atomically: two workers handed the same job never both run it.

        The worker's own ``timeout_s`` is stored with the job, so a sweeper configured differently still
        waits as long as this worker promised to stay silent at most.
        """
        worker_id = new_worker_id()
        with db.session() as session:
            claimed = rows_updated(
                session,
                update(Job)
                .where(Job.id == job_id, Job.status == "pending")
                .values(
                    status="processing",
                    progress=0,
                    worker_id=worker_id,
                    heartbeat_at=db_utcnow(),
                    heartbeat_timeout_s=timeout_s,
                    updated_at=utcnow(),
                ),
            )
            if claimed != 1:
                return None
        return cls(db, job_id, worker_id, timeout_s)

    def _held(self) -> tuple[Any, ...]:
        return (Job.id == self.job_id, Job.worker_id == self.worker_id, Job.status == "processing")

    def beat(self) -> bool:
        """Stamp the heartbeat. False, with ``lost`` set, once the job has been taken over."""
        with self.db.session() as session:
            if rows_updated(session, update(Job).where(*self._held()).values(heartbeat_at=db_utcnow())) == 1:
                return True
            # Not processing under this lease any more: either it ended here (a final status keeps the
            # worker id) and there is nothing to lose, or a sweep gave it to another worker.
            holder = session.scalar(select(Job.worker_id).where(Job.id == self.job_id))
        if holder == self.worker_id:
            return True
        self.lost.set()
        return False

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for one write to this job; JobTakenOver (and nothing written) if it is no longer ours.

        The check is an UPDATE of the job's row as the transaction's first statement: it holds that row
        (PostgreSQL) or the database's write lock (SQLite) until the commit, so a take-over cannot slip in
        between the check and the write; a take-over that committed first makes the check fail.
        """
        with self.db.session() as session:
            if rows_updated(session, update(Job).where(*self._held()).values(updated_at=utcnow())) != 1:
                self.lost.set()
                raise JobTakenOver(self.job_id)
            yield session

    def check(self) -> None:
        """JobTakenOver if the job is no longer ours: asked before an output goes to storage, which no
        transaction can fence, so that a worker that lost its job does not overwrite the new one's files."""
        with self.session():
            pass


class Heartbeat:
    """Beats a lease every ``interval_s`` seconds in a daemon thread while the ``with`` block runs."""

    def __init__(self, lease: JobLease, interval_s: float) -> None:
        self.lease = lease
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"reeldrop-heartbeat-{lease.job_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                alive = self.lease.beat()
            except Exception:  # a database blip: the lease lasts several beats, the next one may get through
                log.warning("job %s: heartbeat not written; trying again", self.lease.job_id, exc_info=True)
                continue
            if not alive:
                log.warning(
                    "job %s: taken over by another worker (this one was silent too long); stopping it here",
                    self.lease.job_id,
                )
                return
