"""The first step of every job: fetch the uploaded object to the work folder and probe it as media."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from app.core.media.demuxers import local_copy_name
from app.core.media.errors import MediaError
from app.core.media.info import MediaInfo

from .errors import JobCancelled, StepFailed

if TYPE_CHECKING:
    from app.core.media.limits import ResourceLimits
    from app.core.media.progress import CancelToken

    from ..services import Services
    from .settings import WorkerSettings

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024


def local_source_path(work: Path, s3_key: str) -> Path:
    """Where the worker keeps its copy of the upload: "source.<allowed ending>", not the uploader's name
    (which ffmpeg could read as a hint); messages name the upload as the user called it instead."""
    return work / local_copy_name(PurePosixPath(s3_key).name)


def fetch_object(svc: Services, key: str, dest: Path, cancel: CancelToken) -> int:
    """Stream an object to a local file in 1 MiB blocks, checking for cancel between blocks."""
    head = svc.store.head(key)
    if head is None:
        raise StepFailed("missing_object", f"The uploaded file {PurePosixPath(key).name} is no longer in storage.")
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
        raise StepFailed("truncated_download", f"Read {written} of {head.size} bytes of {PurePosixPath(key).name}.")
    return written


def public_message(exc: BaseException, *paths: Path) -> str:
    """The error text without the worker's own folders (they mean nothing to the user)."""
    text = str(exc)
    for path in sorted({str(p) for p in paths}, key=len, reverse=True):
        text = text.replace(path + "/", "").replace(path, "")
    return text


def probe_media(path: Path, shown_as: str | None = None, limits: ResourceLimits | None = None) -> MediaInfo:
    """Probe a local file; a failure names it ``shown_as`` (the upload's name) when given."""
    from app.core.media.probe import probe

    try:
        return probe(path, limits=limits)
    except MediaError as exc:
        message = public_message(exc, path.parent)
        if shown_as:
            message = message.replace(path.name, shown_as)
        raise StepFailed(exc.error_type, message) from exc


def check_within_limits(info: MediaInfo, settings: WorkerSettings, shown_as: str) -> None:
    """Refuse a source larger than this server takes (pixel bombs: a few KB can declare 16000x16000 frames),
    by its probed facts, before a frame is decoded."""
    video = info.video
    if video is not None and video.width * video.height > settings.max_pixels:
        raise StepFailed(
            "too_large",
            f"{shown_as}: the picture is {video.width}x{video.height} ({_megapixels(video.width * video.height)}); "
            f"this server takes pictures of up to {_megapixels(settings.max_pixels)}.",
        )
    duration = info.duration_s or 0.0
    if duration > settings.max_duration_s:
        raise StepFailed(
            "too_long",
            f"{shown_as}: it lasts {_span(duration)}; this server takes up to {_span(settings.max_duration_s)}.",
        )
    frames = int(duration * (video.fps or 0)) if video is not None else 0
    if frames > settings.max_frames:
        raise StepFailed(
            "too_many_frames",
            f"{shown_as}: it has about {frames:,} frames; this server takes up to {settings.max_frames:,}.",
        )


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.0f} min" if seconds < 2 * 3600 else f"{seconds / 3600:.1f} h"


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.1f} MP"


def public_facts(info: MediaInfo) -> dict[str, Any]:
    facts = info.as_dict()
    facts.pop("path", None)  # the worker's scratch path means nothing to the user
    return facts


def work_dir(svc: Services, job_id: str) -> Path:
    return svc.config.data_dir / "work" / job_id


def remove_work_dir(svc: Services, job_id: str) -> None:
    shutil.rmtree(work_dir(svc, job_id), ignore_errors=True)
