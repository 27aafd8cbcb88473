"""Why a step or a job stopped, as the worker tells the status document."""

from __future__ import annotations


class JobCancelled(Exception):
    """The user cancelled the job (or the worker is shutting down, see JobCancelToken.by_shutdown)."""


class StepFailed(Exception):
    """One step could not make its output; ``error_type`` is stable, the message is for people."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class JobTakenOver(JobCancelled):
    """The job was given to another worker while this one was silent: stop, and write nothing more."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} is no longer this worker's")
        self.job_id = job_id
