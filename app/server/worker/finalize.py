"""Ending a job whose steps are all over: its status, the results ZIP, and the original's clean-up.

Shared by the built-in pipeline and the worker callbacks (a job processed elsewhere ends here too).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import update

from ..cleanup import delete_source_if_done, prune_outputs
from ..db import Job, utcnow
from ..jobs_service import BATCH_JOB
from .batch import children_of, is_batch, settle_batch_of
from .errors import JobTakenOver
from .state import FINAL_ITEM_STATES

if TYPE_CHECKING:
    from sqlalchemy import CursorResult

    from ..services import Services
    from .lease import JobLease

log = logging.getLogger(__name__)

_BUILDING = "building:"


def outcome(items: list[tuple[str, str, str | None]]) -> tuple[str, str | None]:
    """(kind, status, error) of every item -> the job's final status and error text."""
    validate = [status for kind, status, _ in items if kind == "validate"]
    failed = [(kind, error) for kind, status, error in items if status == "failed"]
    made = [kind for kind, status, _ in items if kind != "validate" and status == "completed"]
    if "failed" in validate:
        return "failed", next(error for kind, error in failed if kind == "validate")
    if not made:
        reason = failed[0][1] if failed else "no step produced an output"
        return "failed", f"Nothing could be made: {reason}"
    if failed:
        return "partial", f"{len(failed)} of {len(failed) + len(made)} outputs failed; the ZIP says which."
    return "completed", None


def steps_over(svc: Services, job_id: str) -> bool:
    with svc.db.session() as session:
        job = session.get(Job, job_id)
        return job is not None and all(item.status in FINAL_ITEM_STATES for item in job.items)


def _claim(svc: Services, job_id: str, lease: JobLease | None) -> bool:
    """Only one process builds a job's ZIP, even when two last callbacks arrive at once."""
    held = [Job.worker_id == lease.worker_id] if lease is not None else []  # a built-in worker: still its job
    with svc.db.session() as session:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "processing", Job.result_key.is_(None), *held)
            .values(result_key=f"{_BUILDING}{job_id}", updated_at=utcnow())
        )
        return cast("CursorResult[Any]", result).rowcount == 1  # an UPDATE's result has a rowcount


def finalize_job(svc: Services, job_id: str, lease: JobLease | None = None) -> str | None:
    """Give a processing job whose items have all ended its final status; returns it (None if not ours).

    ``lease``: the built-in worker's, whose final write then happens only if the job is still its own.
    """
    from ..results_zip import build_results_zip

    if not _claim(svc, job_id, lease):
        if lease is not None:  # a worker's own job is processing with no ZIP begun, unless it was taken over
            lease.lost.set()
            raise JobTakenOver(job_id)
        return None
    with svc.db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        status, error = outcome([(i.kind, i.status, i.error) for i in job.items])
        in_a_batch = BATCH_JOB in job.options  # its outputs go into the batch's ZIP, when the batch ends
        batch = is_batch(job.options)
    result = None
    if status in ("completed", "partial") and not in_a_batch:
        try:
            result = build_results_zip(svc, job_id, status)
        except Exception as exc:  # never leave the job "processing" for ever: it fails, with the reason
            log.exception("job %s: the results ZIP could not be stored", job_id)
            status, error = "failed", f"The results ZIP could not be stored ({type(exc).__name__})."
    with lease.session() if lease is not None else svc.db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.status, job.progress, job.error = status, 100, error
        if result is not None:
            job.result_key, job.result_size, job.result_sha256 = result.key, result.size, result.sha256
        else:
            job.result_key = None
        prune_outputs(svc, job)
        if batch and result is not None:
            for child in children_of(session, job).values():
                prune_outputs(svc, child, in_zip=True)
    log.info("job %s: %s", job_id, status)
    try:
        delete_source_if_done(svc, job_id)
    except (ClientError, BotoCoreError):
        log.warning("job %s: the original could not be deleted now; the temp sweep will", job_id)
    if in_a_batch:
        settle_batch_of(svc, job_id)
    return status
