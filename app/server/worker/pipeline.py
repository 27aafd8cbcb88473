"""One job through the built-in pipeline: validate, renditions, audio, clips, thumbnails, metadata, ZIP.

Each step is an item of the job's status document with its own status, progress and error; a failed
item leaves the others running (the job ends ``partial``), a failed validation ends the job ``failed``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from app import __version__
from app.core.media.info import MediaInfo

from ..db import Job
from .errors import JobCancelled, StepFailed
from .finalize import finalize_job
from .plan import PlannedItem
from .renditions import RenditionChoice, box_of, choose_renditions
from .settings import WorkerSettings
from .state import JobCancelToken, JobRecorder, JobView, claim, close_open_items, ensure_plan, reset_to_pending, set_job
from .steps import StepContext, clip_windows, make_audio, make_clip, make_rendition, make_thumbnail, thumbnail_times
from .validate import fetch_object, local_source_path, probe_media, public_facts, remove_work_dir, work_dir

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)

CONTENT_TYPES = {".mp4": "video/mp4", ".m4a": "audio/mp4", ".jpg": "image/jpeg", ".json": "application/json"}
STORAGE_ERRORS = (ClientError, BotoCoreError)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def process_job(
    svc: Services, settings: WorkerSettings, job_id: str, local: threading.Event, shutdown: threading.Event
) -> str:
    """Run one job. Returns what happened: "done", "skipped" (not ours to run) or "handed_back"."""
    view = ensure_plan(svc.db, svc.config, job_id)
    if view is None:
        log.warning("job %s: not in the database; nothing to do", job_id)
        return "skipped"
    if not claim(svc.db, job_id):
        with svc.db.session() as session:
            job = session.get(Job, job_id)
            cancelled = job is not None and job.status == "cancelled"
        if cancelled:
            close_open_items(svc.db, job_id, "cancelled")
        return "skipped"
    log.info("job %s: processing on worker %s", job_id, worker_name())
    token = JobCancelToken(svc.db, job_id, local, shutdown)
    recorder = JobRecorder(svc.db, job_id, view.plan)
    try:
        _run(svc, settings, view, recorder, token)
    except JobCancelled:
        remove_work_dir(svc, job_id)  # before the final status: a "cancelled" job has left nothing behind
        if token.by_shutdown:
            log.info("job %s: worker stopping; the job goes back to the queue", job_id)
            reset_to_pending(svc.db, job_id)
            return "handed_back"
        close_open_items(svc.db, job_id, "cancelled")
        set_job(svc.db, job_id, status="cancelled", error="Cancelled while processing.")
        log.info("job %s: cancelled", job_id)
    except Exception:
        log.exception("job %s: the worker failed", job_id)
        remove_work_dir(svc, job_id)
        close_open_items(svc.db, job_id, "failed", "The worker hit an internal error.")
        set_job(svc.db, job_id, status="failed", progress=100, error="The worker hit an internal error.")
    finally:
        remove_work_dir(svc, job_id)
    return "done"


def _validate(
    svc: Services, view: JobView, recorder: JobRecorder, token: JobCancelToken, work: Path
) -> MediaInfo | None:
    """The probed original, or None when it cannot be used (the job then ends ``failed``)."""
    recorder.start("validate")
    source = local_source_path(work, view.s3_key)
    try:
        fetch_object(svc, view.s3_key, source, token)
        info = probe_media(source)
    except StepFailed as exc:
        error, error_type = str(exc), exc.error_type
    except STORAGE_ERRORS as exc:
        log.warning("job %s: storage error %s while fetching the original", view.job_id, type(exc).__name__)
        error, error_type = "Storage was unavailable while reading the uploaded file.", "storage_error"
    else:
        recorder.finish("validate", "completed", item_metadata=public_facts(info))
        return info
    remove_work_dir(svc, view.job_id)
    recorder.finish("validate", "failed", error=error, error_type=error_type)
    close_open_items(svc.db, view.job_id, "skipped", "Not run: the uploaded file could not be used.")
    set_job(svc.db, view.job_id, status="failed", progress=100, error=error)
    return None


def _run(svc: Services, settings: WorkerSettings, view: JobView, recorder: JobRecorder, token: JobCancelToken) -> None:
    work = work_dir(svc, view.job_id)
    info = _validate(svc, view, recorder, token, work)
    if info is None:
        return
    source = local_source_path(work, view.s3_key)
    ctx = StepContext(source, info, work, token, settings.x264_preset, settings.ffmpeg_timeout_s)
    steps = _Steps(svc, view, recorder, ctx)
    for planned in view.plan:
        if planned.kind in ("validate", "metadata"):
            continue
        if token.is_set():
            raise JobCancelled()
        steps.run(planned)
    _write_metadata(svc, view, recorder, info)
    if token.is_set():
        raise JobCancelled()
    remove_work_dir(svc, view.job_id)  # the ZIP is made from S3; the local copies are done with
    finalize_job(svc, view.job_id)


class _Steps:
    """Runs the output steps of one job and records each one's outcome."""

    def __init__(self, svc: Services, view: JobView, recorder: JobRecorder, ctx: StepContext) -> None:
        self.svc, self.view, self.recorder, self.ctx = svc, view, recorder, ctx
        info = ctx.info
        requested = list(view.options.get("renditions", []))
        self.choice = choose_renditions(info, requested) if info.video is not None else None
        made = self.choice.make if self.choice else ()
        # Clips use the best rendition the job makes (never upscaled), else 720p's settings.
        self.clip_quality = max(made, key=lambda q: box_of(q)[1]) if made else None
        duration = info.duration_s or 0.0
        clip_count = int((view.options.get("clips") or {}).get("count", 0))
        self.windows = clip_windows(duration, clip_count) if duration and clip_count else []
        thumbs = int(view.options.get("thumbnails", 0))
        self.times = thumbnail_times(duration, thumbs) if duration and thumbs else []

    def run(self, planned: PlannedItem) -> None:
        skip = _skip_reason(planned, self.ctx.info, self.choice)
        if skip is not None:
            self.recorder.finish(planned.item_id, "skipped", error=skip[1], error_type=skip[0])
            return
        assert planned.target_key is not None
        self.recorder.start(planned.item_id)
        out = self.ctx.work / "out" / PurePosixPath(planned.target_key).name
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            metadata = self._make(planned, out)
            size = _upload(self.svc, out, planned.target_key)
        except JobCancelled:
            self.recorder.finish(planned.item_id, "cancelled")
            raise
        except StepFailed as exc:
            self.recorder.finish(planned.item_id, "failed", error=str(exc), error_type=exc.error_type)
        except STORAGE_ERRORS as exc:
            log.warning("job %s: storage error %s on %s", self.view.job_id, type(exc).__name__, planned.item_id)
            error = "Storage was unavailable while saving this output."
            self.recorder.finish(planned.item_id, "failed", error=error, error_type="storage_error")
        except Exception:  # one broken step must not take the others down
            log.exception("job %s: step %s crashed", self.view.job_id, planned.item_id)
            error = "The worker hit an internal error on this step."
            self.recorder.finish(planned.item_id, "failed", error=error, error_type="internal_error")
        else:
            self.recorder.finish(
                planned.item_id, "completed", s3_key=planned.target_key, size=size, item_metadata=metadata
            )
        finally:
            out.unlink(missing_ok=True)

    def _make(self, planned: PlannedItem, out: Path) -> dict[str, Any]:
        def progress(percent: float | None) -> None:
            self.recorder.progress(planned.item_id, percent)

        if planned.kind == "rendition":
            assert planned.quality is not None and self.choice is not None
            metadata = make_rendition(self.ctx, planned.quality, out, progress)
            if self.choice.kept_source_size == planned.quality:
                metadata["kept_source_size"] = True  # every requested quality was above the source
            return metadata
        if planned.kind == "audio":
            return make_audio(self.ctx, out, progress)
        if planned.kind == "clip":
            assert planned.index is not None
            start, length = self.windows[planned.index - 1]
            return make_clip(self.ctx, start, length, self.clip_quality, out, progress)
        if planned.kind == "thumbnail":
            assert planned.index is not None
            return make_thumbnail(self.ctx, self.times[planned.index - 1], out, progress)
        raise StepFailed("unknown_step", f"No built-in step makes {planned.kind!r} outputs.")


def _skip_reason(planned: PlannedItem, info: MediaInfo, choice: RenditionChoice | None) -> tuple[str, str] | None:
    if planned.kind in ("rendition", "thumbnail") and info.video is None:
        return "no_video_stream", "The upload has no video stream."
    if planned.kind == "rendition" and choice is not None and planned.quality in choice.skipped:
        video = info.require_video()
        size = f"{video.display_width}x{video.display_height}"
        return "would_upscale", f"The source is {size}; {planned.quality} would upscale it."
    if planned.kind == "audio" and info.audio is None:
        return "no_audio_stream", "The upload has no audio stream."
    if planned.kind in ("clip", "thumbnail") and not info.duration_s:
        return "unknown_duration", "The upload's duration is unknown, so it cannot be cut."
    return None


def _upload(svc: Services, path: Path, key: str) -> int:
    content_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
    with open(path, "rb") as stream:
        svc.store.put_stream(key, stream, content_type)
    return path.stat().st_size


def _write_metadata(svc: Services, view: JobView, recorder: JobRecorder, info: MediaInfo) -> None:
    """metadata.json: the probe's facts, the options, and what each step made."""
    planned = next(p for p in view.plan if p.kind == "metadata")
    assert planned.target_key is not None
    recorder.start(planned.item_id)
    with svc.db.session() as session:
        job = session.get(Job, view.job_id)
        outputs = [
            {
                "item_id": i.item_id,
                "kind": i.kind,
                "status": i.status,
                "s3_key": i.s3_key,
                "size": i.size,
                "error_type": i.error_type,
                "metadata": i.item_metadata if i.kind != "validate" else None,
            }
            for i in (job.items if job is not None else [])
            if i.item_id != planned.item_id
        ]
    document = {
        "job_id": view.job_id,
        "created_at": view.created_at,
        "source": {"filename": PurePosixPath(view.s3_key).name, "probe": public_facts(info)},
        "options": view.options,
        "outputs": outputs,
        "generator": f"reeldrop-server {__version__}",
    }
    body = json.dumps(document, indent=2, default=str).encode()
    try:
        svc.store.put_bytes(planned.target_key, body, "application/json")
    except STORAGE_ERRORS as exc:
        log.warning("job %s: storage error %s on metadata.json", view.job_id, type(exc).__name__)
        error = "Storage was unavailable while saving metadata.json."
        recorder.finish(planned.item_id, "failed", error=error, error_type="storage_error")
        return
    recorder.finish(planned.item_id, "completed", s3_key=planned.target_key, size=len(body), item_metadata=None)
