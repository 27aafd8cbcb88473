"""Runs a job through its validate step with real status transitions (pending -> processing -> end)."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ..db import Job, JobItem
from .validate import JobCancelled, StepFailed, fetch_object, probe_media, remove_work_dir, work_dir

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)


def _set_item(svc: Services, job_id: str, **changes: object) -> None:
    with svc.db.session() as session:
        job = session.get(Job, job_id)
        if job is None:
            return
        item = job.items[0]
        for name, value in changes.items():
            setattr(item, name, value)


def _finish(svc: Services, job_id: str, status: str, progress: int, error: str | None = None) -> None:
    with svc.db.session() as session:
        job = session.get(Job, job_id)
        if job is not None:
            job.status, job.progress, job.error = status, progress, error


def process_job(svc: Services, job_id: str, cancel: threading.Event) -> None:
    with svc.db.session() as session:
        job = session.get(Job, job_id)
        if job is None or job.status != "pending":
            return
        job.status = "processing"
        job.items.append(JobItem(item_id="validate", kind="validate", status="processing", position=0))
        key = job.s3_key
    local = work_dir(svc, job_id) / "source"
    try:
        fetch_object(svc, key, local, cancel)
        metadata = probe_media(local)
        _set_item(svc, job_id, status="completed", progress=100, item_metadata=metadata)
        _finish(svc, job_id, "completed", 100)
    except JobCancelled:
        _set_item(svc, job_id, status="cancelled")
        _finish(svc, job_id, "cancelled", 0, "Cancelled while processing.")
    except StepFailed as exc:
        _set_item(svc, job_id, status="failed", error=str(exc), error_type=exc.error_type)
        _finish(svc, job_id, "failed", 100, str(exc))
    except (ClientError, BotoCoreError) as exc:
        log.warning("job %s: storage error %s", job_id, type(exc).__name__)
        _set_item(svc, job_id, status="failed", error="Storage was unavailable.", error_type="storage_error")
        _finish(svc, job_id, "failed", 100, "Storage was unavailable.")
    finally:
        remove_work_dir(svc, job_id)
