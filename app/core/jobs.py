"""Wait for a backend job to end: poll its status document with jittered backoff, report progress as data.

The schedule starts at 0.5 s and grows by half each quiet poll up to 5 s, each wait jittered by ±20 % so a
batch of items does not poll in lock-step; whenever the status or the percentage moves, it drops back to the
start (a job that is moving gets watched closely, one stuck in a queue costs one request per 5 s).

What ends a poll: a terminal status (completed, partial, failed, cancelled; the final document is returned,
whatever it says, so the caller decides what "failed" means for the item), the cancel/pause token, the
deadline (JobWaitTimeout), or an error the backend will not get over (AuthRequired, 404, other 4xx). An
unreachable backend or a 5xx is transient: BackendClient already retried it, and the poll keeps going at the
slow end of the schedule until the deadline.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any, Protocol

from app.core.api import AuthRequired, BackendError, BackendUnavailable
from app.core.transfer.control import TransferControl

log = logging.getLogger(__name__)

DEFAULT_MAX_WAIT = 6 * 3600.0


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.PARTIAL, JobStatus.FAILED, JobStatus.CANCELLED})


def job_name(job: dict[str, Any]) -> str:
    """The title given at upload, else the uploaded file's name, else the job id."""
    if job.get("title"):
        return str(job["title"])
    key = job.get("s3_key")
    if key:
        return PurePosixPath(str(key)).name
    return str(job.get("job_id", ""))


class JobPollError(Exception):
    """Waiting for the job stopped for good; the message names the job and the cause."""

    def __init__(self, job_id: str, message: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class JobWaitTimeout(JobPollError):
    """The job did not end within the allowed wait; it may still be running on the server."""


class JobStatusSource(Protocol):
    def job(self, job_id: str) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class JobProgress:
    """One observation of a job, safe to hand to any thread. ``status`` is the server's word (a status this
    client does not know stays a plain string and counts as still running); ``progress`` is 0..100."""

    job_id: str
    status: str
    progress: int
    polls: int
    transient_errors: int
    last_error: str | None
    document: dict[str, Any]

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True, slots=True)
class PollSchedule:
    initial: float = 0.5
    maximum: float = 5.0
    factor: float = 1.5
    jitter: float = 0.2

    def base_delay(self, quiet_polls: int) -> float:
        """The un-jittered wait after ``quiet_polls`` polls in a row that saw no change (0 = just changed)."""
        return min(self.maximum, self.initial * self.factor ** max(0, quiet_polls))

    def delay(self, quiet_polls: int, rng: Callable[[float, float], float] = random.uniform) -> float:
        base = self.base_delay(quiet_polls)
        return min(self.maximum, max(0.0, base * rng(1.0 - self.jitter, 1.0 + self.jitter)))


def _progress_of(document: dict[str, Any]) -> int:
    try:
        value = int(float(document.get("progress") or 0))
    except (TypeError, ValueError):
        return 0
    return max(0, min(100, value))


def _status_of(document: dict[str, Any]) -> str:
    raw = str(document.get("status", ""))
    try:
        return JobStatus(raw).value
    except ValueError:
        return raw


class JobPoller:
    """Polls one job until it ends. ``latest`` is readable from any thread (the GUI's timer);
    ``on_progress(JobProgress)`` runs on the polling thread after every poll."""

    def __init__(
        self,
        source: JobStatusSource,
        job_id: str,
        *,
        schedule: PollSchedule | None = None,
        max_wait: float = DEFAULT_MAX_WAIT,
        control: TransferControl | None = None,
        on_progress: Callable[[JobProgress], None] | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.source = source
        self.job_id = job_id
        self.schedule = schedule or PollSchedule()
        self.max_wait = max_wait
        self.control = control or TransferControl()
        self._on_progress = on_progress
        self._sleep = sleep or self._interruptible_sleep
        self._clock = clock
        self._rng = rng
        self._lock = threading.Lock()
        self._latest: JobProgress | None = None

    @property
    def latest(self) -> JobProgress | None:
        with self._lock:
            return self._latest

    def _interruptible_sleep(self, seconds: float) -> None:
        # stop_event is set by pause and cancel alike: either way this waiter has nothing left to do
        self.control.stop_event.wait(seconds)

    def _fetch(self) -> tuple[dict[str, Any] | None, str | None]:
        """(document, None) or (None, why it failed transiently); raises for errors worth stopping on."""
        try:
            return self.source.job(self.job_id), None
        except AuthRequired:
            raise
        except BackendUnavailable as error:
            return None, str(error)
        except BackendError as error:
            if error.status >= 500:
                return None, f"the server answered {error.status}: {error.detail}"
            if error.status == 404:
                raise JobPollError(self.job_id, f"job {self.job_id} does not exist on the server") from error
            raise JobPollError(self.job_id, f"job {self.job_id}: the server refused: {error.detail}") from error

    def _publish(self, observed: JobProgress) -> None:
        with self._lock:
            self._latest = observed
        if self._on_progress is not None:
            self._on_progress(observed)

    def wait(self) -> dict[str, Any]:
        """Poll until the job ends and return its final status document."""
        deadline = self._clock() + self.max_wait
        quiet, polls, transient = 0, 0, 0
        seen: tuple[str, int] | None = None
        last_error: str | None = None
        while True:
            self.control.raise_if_stopped()
            document, error = self._fetch()
            polls += 1
            if document is None:
                transient += 1
                last_error = error
                log.info("job %s: status not available (%s); still waiting", self.job_id, error)
                # an outage is no news: keep backing off rather than resetting the schedule
                quiet += 1
                previous = self.latest
                if previous is not None:
                    self._publish(_with_error(previous, polls, transient, last_error))
            else:
                status, progress = _status_of(document), _progress_of(document)
                observed = JobProgress(self.job_id, status, progress, polls, transient, last_error, document)
                if (status, progress) != seen:
                    log.debug("job %s: %s %d%%", self.job_id, status, progress)
                    quiet = 0
                else:
                    quiet += 1
                seen = (status, progress)
                self._publish(observed)
                if observed.finished:
                    return document
            left = deadline - self._clock()
            if left <= 0:
                where = f"still {seen[0]} at {seen[1]}%" if seen else f"status never read ({last_error})"
                raise JobWaitTimeout(
                    self.job_id, f"job {self.job_id} did not finish within {self.max_wait:g} s ({where})"
                )
            self._sleep(min(left, self.schedule.delay(quiet, self._rng)))


def _with_error(previous: JobProgress, polls: int, transient: int, error: str | None) -> JobProgress:
    return JobProgress(previous.job_id, previous.status, previous.progress, polls, transient, error, previous.document)


def wait_for_job(source: JobStatusSource, job_id: str, **options: Any) -> dict[str, Any]:
    """Poll ``job_id`` until it ends; see JobPoller for the options. Returns the final status document."""
    return JobPoller(source, job_id, **options).wait()
