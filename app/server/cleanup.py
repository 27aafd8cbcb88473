"""Cleaning temp/ (the transcript and form-upload APIs): originals after their job, old temp objects, abandoned uploads.

Outputs (videos/, processed/, results/) are never deleted here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import select
from sqlalchemy.orm import Session

from .answers import TempSweep
from .db import Job, Upload
from .periodic import PeriodicThread

if TYPE_CHECKING:
    from .services import Services

log = logging.getLogger(__name__)

UNFINISHED = ("pending", "processing")
Counts = TypeVar("Counts", int, tuple[int, int, int])


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _keys_in_use(session: Session) -> set[str]:
    """Originals that a pending or running job still has to read."""
    return set(session.scalars(select(Job.s3_key).where(Job.status.in_(UNFINISHED))))


def sweep_temp(svc: Services, session: Session, cutoff: datetime) -> TempSweep:
    """Delete temp objects last modified before `cutoff` and abort multipart uploads begun before it.

    An original that an unfinished job still needs is kept, however old it is. Each step stands alone, and
    what it changed in storage reaches the database before the next one starts: a store that cannot list
    multipart uploads (s3rver, `rclone serve s3` at start-up) skips only that step, and never leaves records
    saying "uploaded" for objects already deleted.
    """
    cutoff = _aware(cutoff)
    objects = _step(session, "temp objects", lambda: _sweep_objects(svc, session, cutoff), (0, 0, 0))
    deleted, deleted_bytes, kept = objects
    aborted = _step(session, "multipart uploads", lambda: _sweep_multipart(svc, session, cutoff), 0)
    expired = _step(session, "unused upload forms", lambda: _expire_unused_forms(svc, session, cutoff), 0)
    debris = _sweep_store_debris(svc)
    # A sweep that found nothing is said only at DEBUG: the built-in server sweeps at every launch.
    log.log(
        logging.INFO if deleted or aborted or kept or debris or expired else logging.DEBUG,
        "temp sweep: %d objects (%d bytes) deleted, %d multipart uploads aborted, %d kept for unfinished jobs, "
        "%d unused upload forms expired",
        deleted,
        deleted_bytes,
        aborted,
        kept,
        expired,
    )
    return {
        "deleted_objects": deleted,
        "deleted_bytes": deleted_bytes,
        "aborted_multipart_uploads": aborted,
        "kept_in_use": kept,
        "removed_partial_writes": debris,
        "expired_uploads": expired,
    }


def _step(session: Session, name: str, work: Callable[[], Counts], nothing: Counts) -> Counts:
    """Run one step of the sweep and commit what it changed; a storage failure skips the rest of that step
    (what it did so far is committed), is logged, and counts as `nothing`; the sweep goes on."""
    try:
        done = work()
    except (ClientError, BotoCoreError) as exc:
        log.warning("temp sweep: %s skipped this time: %s", name, exc)
        done = nothing
    session.commit()
    return done


def _sweep_objects(svc: Services, session: Session, cutoff: datetime) -> tuple[int, int, int]:
    objects = list(svc.store.list_objects(svc.config.temp_prefix))
    in_use = _keys_in_use(session)  # read after listing: a job created meanwhile still protects its original
    deleted, deleted_bytes, kept = 0, 0, 0
    for obj in objects:
        if _aware(obj["LastModified"]) >= cutoff:
            continue
        if obj["Key"] in in_use:
            kept += 1
            continue
        svc.store.delete(obj["Key"])
        deleted += 1
        deleted_bytes += int(obj["Size"])
        for upload in session.scalars(select(Upload).where(Upload.s3_key == obj["Key"])):
            if upload.status in ("pending", "uploaded"):
                upload.status = "deleted"
        session.commit()  # the record follows each deletion at once: a later failure cannot undo it
    return deleted, deleted_bytes, kept


def _sweep_multipart(svc: Services, session: Session, cutoff: datetime) -> int:
    aborted = 0
    for mpu in list(svc.store.list_multipart_uploads(svc.config.temp_prefix)):
        uploads = list(session.scalars(select(Upload).where(Upload.s3_upload_id == mpu["UploadId"])))
        # The later of the store's date and our own record: some stores (moto) report a fixed old date,
        # and an upload we handed out within the window must never be aborted under its client.
        started = max([_aware(mpu["Initiated"]), *(_aware(u.created_at) for u in uploads)])
        if started >= cutoff:
            continue
        svc.store.abort_multipart(mpu["Key"], mpu["UploadId"])
        aborted += 1
        for upload in uploads:
            if upload.status == "pending":
                upload.status = "aborted"
        session.commit()
    return aborted


def _expire_unused_forms(svc: Services, session: Session, cutoff: datetime) -> int:
    """Single-POST uploads still pending whose form expired before `cutoff` with nothing stored: their
    client never sent the file (it died, or gave up), and nothing can arrive any more. They are marked
    expired, so they count against the user's quota and pending-upload cap no longer. (A sent but never
    completed file is an object in temp/, swept above; a multipart upload, with the multipart ones.)"""
    lifetime = timedelta(seconds=svc.config.presigned_expiry)
    naive_cutoff = cutoff.astimezone(UTC).replace(tzinfo=None)  # the records' times are naive UTC
    stale = session.scalars(
        select(Upload).where(
            Upload.status == "pending", Upload.method == "POST", Upload.created_at < naive_cutoff - lifetime
        )
    )
    expired = 0
    for upload in stale:
        if svc.store.head(upload.s3_key) is not None:
            continue  # sent after all (a slow POST that began before its form expired): not ours to end
        upload.status = "expired"
        upload.error = "Its upload form expired before the file was sent."
        expired += 1
    return expired


def _sweep_store_debris(svc: Services) -> int:
    """A FileStore's temp files left by writes that a crash interrupted (S3 cleans up after itself)."""
    from .file_store import TMP_DEBRIS_AGE_S, FileStore

    if not isinstance(svc.store, FileStore):
        return 0
    return svc.store.sweep_tmp(TMP_DEBRIS_AGE_S)


def delete_source_if_done(svc: Services, job_id: str) -> bool:
    """The form-upload API: once a job has made its outputs, delete its original from temp/ if the job asked so.

    Only for completed or partial jobs (a failed or cancelled job keeps its original for a retry, until
    the periodic sweep), only under temp/, and never while another unfinished job reads the same object.
    """
    with svc.db.session() as session:
        job = session.get(Job, job_id)
        if job is None or job.status not in ("completed", "partial"):
            return False
        if not job.options.get("delete_after_processing", False):
            return False
        key = job.s3_key
        if not key.startswith(svc.config.temp_prefix):
            return False
        others = session.scalar(
            select(Job.id).where(Job.s3_key == key, Job.id != job.id, Job.status.in_(UNFINISHED)).limit(1)
        )
        if others is not None:
            log.info("job %s: original kept, job %s still needs it", job_id, others)
            return False
        svc.store.delete(key)
        for upload in session.scalars(select(Upload).where(Upload.s3_key == key)):
            if upload.status in ("pending", "uploaded"):
                upload.status = "deleted"
    log.info("job %s: original deleted from temp storage (delete_after_processing)", job_id)
    return True


def prune_outputs(svc: Services, job: Job, *, in_zip: bool = False) -> list[str]:
    """A job whose results ZIP is stored: delete the outputs nobody keeps, returns their item ids. Called in
    the transaction that gives the job its final status, so nobody sees it finished with them still there.

    KEEP_PROCESSED=false deletes every output (the ZIP holds them all); the job option
    ``delete_audio_after_clips`` (the form-upload API: "delete the extracted audio when all clips are done") deletes
    the audio once every planned clip was made. A deleted output's item says "deleted". ``in_zip``: the
    outputs are in another job's ZIP (a child of a batch, once the batch's ZIP is stored).
    """
    if job.status not in ("completed", "partial") or not (job.result_key or in_zip):
        return []
    stored = [i for i in job.items if i.status == "completed" and i.s3_key]
    if not svc.config.keep_processed:
        doomed = stored
    elif job.options.get("delete_audio_after_clips"):
        clips = [i for i in job.items if i.kind == "clip"]
        all_clips_made = bool(clips) and all(i.status == "completed" for i in clips)
        doomed = [i for i in stored if i.kind == "audio"] if all_clips_made else []
    else:
        doomed = []
    removed = []
    for item in doomed:
        try:
            svc.store.delete(item.s3_key or "")
        except (ClientError, BotoCoreError):
            log.warning("job %s: output %s could not be deleted now; it stays", job.id, item.item_id, exc_info=True)
            continue
        item.status = "deleted"
        removed.append(item.item_id)
    if removed:
        log.info("job %s: outputs deleted once in the results ZIP: %s", job.id, ", ".join(removed))
    return removed


class TempSweeper:
    """Runs ``sweep_temp`` at start-up and then every ``interval_s`` seconds, in a daemon thread."""

    def __init__(self, svc: Services, interval_s: float) -> None:
        self.svc = svc
        self.interval_s = interval_s
        self._periodic = PeriodicThread("reeldrop-temp-sweep", interval_s, self.sweep_once, "temp sweep")

    def start(self) -> None:
        self._periodic.start()

    def stop(self) -> None:
        self._periodic.stop()

    def sweep_once(self) -> TempSweep:
        cutoff = datetime.now(UTC) - timedelta(hours=self.svc.config.cleanup_temp_hours)
        with self.svc.db.session() as session:
            return sweep_temp(self.svc, session, cutoff)
