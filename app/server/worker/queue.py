"""The job queue (huey): SQLite storage in the data folder by default, Redis for many machines.

``reeldrop-server`` runs a consumer in-process (threads); ``reeldrop-server worker`` runs the same
consumer as its own process, on any host that reaches QUEUE_URL, DATABASE_URL and S3. A cancel reaches
a job wherever it runs through the database (``jobs.cancel_requested``, see ``JobCancelToken``). A job
whose worker died (its heartbeat stopped) is taken back and queued again by the stale-job sweep, which
both kinds of process run (takeover.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from huey import RedisHuey, SqliteHuey
from huey.api import Huey
from huey.consumer import Consumer
from sqlalchemy import select

from ..db import Job
from .batch import settle_batch_of
from .dispatch import Dispatcher, hand_over
from .settings import WorkerSettings
from .state import close_open_items, ensure_plan, reset_to_pending
from .takeover import StaleJobSweeper
from .validate import remove_work_dir

if TYPE_CHECKING:
    from ..config import ServerConfig
    from ..services import Services

log = logging.getLogger(__name__)

_POLL_MAX_DELAY_S = 1.0  # an idle SQLite consumer looks for work at least once a second
_SHUTDOWN_TIMEOUT_S = 60.0


def make_huey(config: ServerConfig, settings: WorkerSettings) -> Huey:
    url = config.queue_url
    if not url:
        return SqliteHuey(settings.queue_name, filename=str(config.data_dir / "queue.sqlite3"), results=False)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(settings.queue_name, url=url, results=False)
    if url.startswith("sqlite:///"):
        return SqliteHuey(settings.queue_name, filename=url.removeprefix("sqlite:///"), results=False)
    raise ValueError(f"QUEUE_URL must be redis://..., rediss://... or sqlite:///path, got {url.split(':', 1)[0]}:...")


def describe_queue(config: ServerConfig) -> str:
    if not config.queue_url:
        return f"huey on SQLite ({config.data_dir / 'queue.sqlite3'})"
    return f"huey on {config.queue_url.split('://', 1)[0]} (address hidden)"


class _Consumer(Consumer):
    """huey's consumer, telling us when it stops; ``signals=False`` leaves the host's signal handlers alone."""

    def __init__(self, huey: Huey, on_stop: Callable[[], None], signals: bool, **options: Any) -> None:
        super().__init__(huey, **options)
        self._on_stop = on_stop
        self._signals = signals

    def _set_signal_handlers(self) -> None:
        if self._signals:
            super()._set_signal_handlers()

    def stop(self, graceful: bool = False) -> None:
        self._on_stop()  # running jobs hand themselves back to the queue, so the graceful join is short
        super().stop(graceful=True)


class HueyJobQueue:
    def __init__(self, svc: Services, settings: WorkerSettings) -> None:
        self.svc = svc
        self.settings = settings
        self.huey = make_huey(svc.config, settings)
        self._task = self.huey.task(name="process_job")(self._run_task)
        self._running: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._shutdown = threading.Event()
        self._consumer: _Consumer | None = None

    # -- the API side ------------------------------------------------------------------------
    def enqueue(self, job_id: str) -> None:
        ensure_plan(self.svc.db, self.svc.config, job_id)  # the status document lists the steps at once
        self._task(job_id)

    def cancel(self, job_id: str) -> None:
        with self._lock:
            event = self._running.get(job_id)
        if event is not None:
            event.set()  # running here: stop now rather than at the next poll of the flag
        _close_if_cancelled(self.svc, job_id)

    # -- the consumer side -------------------------------------------------------------------
    def _consumer_for(self, signals: bool) -> _Consumer:
        return _Consumer(
            self.huey,
            self._shutdown.set,
            signals,
            workers=self.settings.threads,
            worker_type="thread",
            periodic=False,
            max_delay=_POLL_MAX_DELAY_S,
            shutdown_timeout=_SHUTDOWN_TIMEOUT_S,
        )

    def start(self) -> None:
        """Consume in background threads of this process (the embedded default)."""
        # huey's consumer greets at INFO with its banner and its command list, and says goodbye twice: in
        # the app's log, where the built-in server starts at every launch, that is noise ("queue:" says it).
        logging.getLogger("huey.consumer").setLevel(logging.WARNING)
        self._shutdown.clear()
        if not self.svc.config.queue_url:
            self.requeue_interrupted()
        self._consumer = self._consumer_for(signals=False)
        self._consumer.start()

    def stop(self) -> None:
        if self._consumer is not None:
            self._consumer.stop(graceful=True)
            self._consumer = None

    def requeue_interrupted(self) -> list[str]:
        """Jobs left `processing` by a process that died without handing them back (SIGKILL, power loss).

        Only for the single-machine queue (no QUEUE_URL): there, no other worker can be running them, so
        when this consumer starts they can only be orphans. Each starts again from its first step.
        """
        with self.svc.db.session() as session:
            orphans = list(session.scalars(select(Job.id).where(Job.status == "processing")))
        for job_id in orphans:
            reset_to_pending(self.svc.db, job_id)
            remove_work_dir(self.svc, job_id)
            log.warning("job %s: interrupted by a crash; queued again", job_id)
            self._task(job_id)
        return orphans

    def stale_job_sweeper(self) -> StaleJobSweeper:
        """Takes jobs back from workers that stopped responding and puts them on this queue again."""
        s = self.settings
        return StaleJobSweeper(self.svc.db, s.heartbeat_timeout_s, s.max_worker_losses, self._task)

    def run_forever(self) -> None:
        """Consume in the foreground until SIGINT/SIGTERM (``reeldrop-server worker``)."""
        self._shutdown.clear()
        # Workers sweep too: jobs of a lost worker come back even while no API process runs.
        sweeper = self.stale_job_sweeper()
        sweeper.start()
        try:
            self._consumer_for(signals=True).run()
        finally:
            sweeper.stop()

    def _run_task(self, job_id: str) -> None:
        # Imported by the first job, not at start-up: the steps pull in the media layer (0.12 s of the
        # built-in server's ~1 s start).
        from .pipeline import process_job

        event = threading.Event()
        with self._lock:
            self._running[job_id] = event
        try:
            result = process_job(self.svc, self.settings, job_id, event, self._shutdown)
        finally:
            with self._lock:
                self._running.pop(job_id, None)
        if result == "handed_back":
            self._task(job_id)


class ExternalJobQueue:
    """--external-workers: no built-in worker; jobs are planned here and finished by the callbacks."""

    def __init__(self, svc: Services, dispatcher: Dispatcher | None = None) -> None:
        self.svc = svc
        self.dispatcher = dispatcher  # a Lambda or a webhook the jobs are handed to; None: workers ask

    def enqueue(self, job_id: str) -> None:
        ensure_plan(self.svc.db, self.svc.config, job_id)
        if self.dispatcher is not None:
            hand_over(self.svc, self.dispatcher, job_id)
            _close_if_failed(self.svc, job_id)
            settle_batch_of(self.svc, job_id)  # one that could not be handed over has ended

    def cancel(self, job_id: str) -> None:
        # No worker of ours polls the flag: the job ends now, and the worker's next callback gets 409.
        with self.svc.db.session() as session:
            job = session.get(Job, job_id)
            if job is not None and job.status == "processing" and job.cancel_requested:
                job.status, job.error = "cancelled", "Cancelled while processing."
        _close_if_cancelled(self.svc, job_id)
        settle_batch_of(self.svc, job_id)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def _close_if_failed(svc: Services, job_id: str) -> None:
    """A job its worker could not be given: its planned steps will never run."""
    with svc.db.session() as session:
        job = session.get(Job, job_id)
        failed = job is not None and job.status == "failed"
    if failed:
        close_open_items(svc.db, job_id, "skipped", "Not run: the job could not be handed to its worker.")


def _close_if_cancelled(svc: Services, job_id: str) -> None:
    """A job cancelled before it started: its planned steps will never run."""
    with svc.db.session() as session:
        job = session.get(Job, job_id)
        cancelled = job is not None and job.status == "cancelled"
    if cancelled:
        close_open_items(svc.db, job_id, "cancelled")
