"""The first step of every job: fetch the uploaded object and probe it as media.

Issue 2 runs only this step; the full pipeline (renditions, clips, audio, thumbnails) builds on it.
"""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.media.errors import MediaError

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024


class JobCancelled(Exception):
    pass


class StepFailed(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def fetch_object(svc: Services, key: str, dest: Path, cancel: threading.Event) -> int:
    """Stream an object to a local file in 1 MiB blocks, checking for cancel between blocks."""
    head = svc.store.head(key)
    if head is None:
        raise StepFailed("missing_object", f"The uploaded object {key} is no longer in storage.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    body = svc.store.open_stream(key)["Body"]
    written = 0
    try:
        with open(dest, "wb") as out:
            for block in body.iter_chunks(CHUNK):
                if cancel.is_set():
                    raise JobCancelled()
                out.write(block)
                written += len(block)
    finally:
        body.close()
    if written != head.size:
        raise StepFailed("truncated_download", f"Read {written} of {head.size} bytes of {key}.")
    return written


def probe_media(path: Path) -> dict:
    from app.core.media.probe import probe

    try:
        info = probe(path)
    except MediaError as exc:
        raise StepFailed(exc.error_type, str(exc).replace(str(path), path.name)) from exc
    facts = info.as_dict()
    facts.pop("path", None)  # the worker's scratch path means nothing to the user
    return facts


def work_dir(svc: Services, job_id: str) -> Path:
    return svc.config.data_dir / "work" / job_id


def remove_work_dir(svc: Services, job_id: str) -> None:
    shutil.rmtree(work_dir(svc, job_id), ignore_errors=True)
