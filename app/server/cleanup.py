"""Sweeping temp/ (seed 001): old temporary objects and abandoned multipart uploads."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import Upload

if TYPE_CHECKING:
    from .services import Services

log = logging.getLogger(__name__)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def sweep_temp(svc: Services, session: Session, cutoff: datetime) -> dict[str, Any]:
    """Delete temp objects last modified before `cutoff` and abort multipart uploads begun before it."""
    cutoff = _aware(cutoff)
    prefix = svc.config.temp_prefix
    deleted, deleted_bytes, aborted = 0, 0, 0
    for obj in list(svc.store.list_objects(prefix)):
        if _aware(obj["LastModified"]) >= cutoff:
            continue
        svc.store.delete(obj["Key"])
        deleted += 1
        deleted_bytes += int(obj["Size"])
        for upload in session.scalars(select(Upload).where(Upload.s3_key == obj["Key"])):
            if upload.status in ("pending", "uploaded"):
                upload.status = "deleted"
    for mpu in list(svc.store.list_multipart_uploads(prefix)):
        known = session.scalar(select(Upload).where(Upload.s3_upload_id == mpu["UploadId"]))
        # Our own record dates the upload when we have one: some stores (moto) report a fixed,
        # years-old "Initiated", which would abort uploads that are still running.
        started = _aware(known.created_at) if known else _aware(mpu["Initiated"])
        if started >= cutoff:
            continue
        svc.store.abort_multipart(mpu["Key"], mpu["UploadId"])
        aborted += 1
        if known is not None and known.status == "pending":
            known.status = "aborted"
    log.info(
        "temp sweep: %d objects (%d bytes) deleted, %d multipart uploads aborted",
        deleted,
        deleted_bytes,
        aborted,
    )
    return {"deleted_objects": deleted, "deleted_bytes": deleted_bytes, "aborted_multipart_uploads": aborted}
