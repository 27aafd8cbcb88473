"""One job through the built-in pipeline: validate, renditions, audio, clips, thumbnails, metadata, ZIP.

Each step is an item of the job's status document with its own status, progress and error; a failed
item leaves the others running (the job ends ``partial``), a failed validation ends the job ``failed``.

The worker holds a lease on the job (lease.py) and beats its heartbeat while it runs. A job taken back
from a lost worker (takeover.py) keeps the outputs that worker finished: they are not made again as long
as they are still in storage; validation and metadata.json always run again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import threading
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from app import __version__
from app.core.media.info import MediaInfo

from ..db import Job
from .batch import is_batch, settle_batch, settle_batch_of
from .captions import Captions, add_soft_track, load_captions
from .errors import JobCancelled, JobTakenOver, StepFailed
from .finalize import finalize_job
from .lease import Heartbeat, JobLease
from .plan import PlannedItem
from .renditions import RenditionChoice, box_of, choose_renditions
from .settings import WorkerSettings
from .state import (
    JobCancelToken,
    JobRecorder,
    JobView,
    KeptOutput,
    close_open_items,
    ensure_plan,
    kept_outputs,
    reset_to_pending,
    set_job,
)
from .steps import (
    StepContext,
    clip_windows,
    make_audio,
    make_clip,
    make_rendition,
    make_thumbnail,
    run_step,
    thumbnail_times,
)
from .validate import check_within_limits, fetch_object, local_source_path, probe_media, public_facts, work_dir

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)

CONTENT_TYPES = {".mp4": "video/mp4", ".m4a": "audio/mp4", ".jpg": "image/jpeg", ".json": "application/json"}
STORAGE_ERRORS = (ClientError, BotoCoreError)


def process_job(
    svc: Services, settings: WorkerSettings, job_id: str, local: threading.Event, shutdown: threading.Event
) -> str:
    """Run one job. Returns what happened: "done", "skipped" (not ours to run), "handed_back" or
    "taken_over" (another worker was given the job while this one was silent; nothing more was written)."""
    view = ensure_plan(svc.db, svc.config, job_id)
    if view is None:
        log.warning("job %s: not in the database; nothing to do", job_id)
        return "skipped"
    if is_batch(view.options):  # queued again after a crash: a batch runs nothing, it follows its children
        settle_batch(svc, job_id)
        return "skipped"
    try:
        return _process(svc, settings, view, local, shutdown)
    finally:
        settle_batch_of(svc, job_id)  # however it ended (or was found cancelled), its batch follows


def _process(
    svc: Services, settings: WorkerSettings, view: JobView, local: threading.Event, shutdown: threading.Event
) -> str:
    job_id = view.job_id
    lease = JobLease.claim(svc.db, job_id, settings.heartbeat_timeout_s)
    if lease is None:
        with svc.db.session() as session:
            job = session.get(Job, job_id)
            cancelled = job is not None and job.status == "cancelled"
        if cancelled:
            close_open_items(svc.db, job_id, "cancelled")
        return "skipped"
    log.info("job %s: processing on worker %s", job_id, lease.worker_id)
    # A scratch folder per claim: a worker that lost the job must not delete the folder of the one that has it.
    work = work_dir(svc, job_id) / lease.tag
    token = JobCancelToken(svc.db, job_id, local, shutdown, lease.lost)
    try:
        with Heartbeat(lease, settings.heartbeat_timeout_s / 4):
            return _attempt(svc, settings, view, lease, token, work)
    except JobTakenOver:
        log.warning("job %s: another worker has it now; this worker stopped without writing results", job_id)
        return "taken_over"
    finally:
        _remove(work)


def _remove(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
    with contextlib.suppress(OSError):  # still holds another claim's folder
        work.parent.rmdir()  # the job's folder, once no claim of it has a folder here any more


def _attempt(
    svc: Services, settings: WorkerSettings, view: JobView, lease: JobLease, token: JobCancelToken, work: Path
) -> str:
    job_id = view.job_id
    kept = kept_outputs(svc.db, job_id)
    recorder = JobRecorder(lease, view.plan, kept)
    try:
        _run(svc, settings, view, lease, recorder, token, work, kept)
    except JobCancelled as exc:
        if token.taken_over:
            raise JobTakenOver(job_id) from exc
        _remove(work)  # before the final status: a "cancelled" job has left nothing behind
        if token.by_shutdown:
            log.info("job %s: worker stopping; the job goes back to the queue", job_id)
            reset_to_pending(svc.db, job_id, lease)
            return "handed_back"
        close_open_items(svc.db, job_id, "cancelled", lease=lease)
        set_job(svc.db, job_id, lease, status="cancelled", error="Cancelled while processing.")
        log.info("job %s: cancelled", job_id)
    except Exception:
        log.exception("job %s: the worker failed", job_id)
        _remove(work)
        close_open_items(svc.db, job_id, "failed", "The worker hit an internal error.", lease)
        set_job(svc.db, job_id, lease, status="failed", progress=100, error="The worker hit an internal error.")
    return "done"


def _validate(
    svc: Services,
    settings: WorkerSettings,
    view: JobView,
    lease: JobLease,
    recorder: JobRecorder,
    token: JobCancelToken,
    work: Path,
) -> MediaInfo | None:
    """The probed original, or None when it cannot be used (the job then ends ``failed``)."""
    recorder.start("validate")
    source = local_source_path(work, view.s3_key)
    shown_as = PurePosixPath(view.s3_key).name
    try:
        fetch_object(svc, view.s3_key, source, token)
        info = probe_media(source, shown_as=shown_as, limits=settings.ffmpeg_limits())
        check_within_limits(info, settings, shown_as)
    except StepFailed as exc:
        error, error_type = str(exc), exc.error_type
    except STORAGE_ERRORS as exc:
        log.warning("job %s: storage error %s while fetching the original", view.job_id, type(exc).__name__)
        error, error_type = "Storage was unavailable while reading the uploaded file.", "storage_error"
    else:
        recorder.finish("validate", "completed", item_metadata=public_facts(info))
        return info
    _remove(work)
    recorder.finish("validate", "failed", error=error, error_type=error_type)
    close_open_items(svc.db, view.job_id, "skipped", "Not run: the uploaded file could not be used.", lease)
    set_job(svc.db, view.job_id, lease, status="failed", progress=100, error=error)
    return None


def _run(
    svc: Services,
    settings: WorkerSettings,
    view: JobView,
    lease: JobLease,
    recorder: JobRecorder,
    token: JobCancelToken,
    work: Path,
    kept: dict[str, KeptOutput],
) -> None:
    info = _validate(svc, settings, view, lease, recorder, token, work)
    if info is None:
        return
    source = local_source_path(work, view.s3_key)
    shown_as = PurePosixPath(view.s3_key).name
    ctx = StepContext(
        source, info, work, token, settings.x264_preset, settings.ffmpeg_timeout_s, shown_as, settings.ffmpeg_limits()
    )
    captions = load_captions(svc, view.options, work, token)
    if isinstance(captions, str):
        log.warning("job %s: no subtitles: %s", view.job_id, captions)
    steps = _Steps(svc, view, recorder, ctx, kept, captions)
    for planned in view.plan:
        if planned.kind in ("validate", "metadata"):
            continue
        if token.is_set():
            raise JobCancelled()
        steps.run(planned)
    _write_metadata(svc, view, recorder, info)
    if token.is_set():
        raise JobCancelled()
    _remove(work)  # the ZIP is made from S3; the local copies are done with
    finalize_job(svc, view.job_id, lease)


class _Steps:
    """Runs the output steps of one job and records each one's outcome."""

    def __init__(
        self,
        svc: Services,
        view: JobView,
        recorder: JobRecorder,
        ctx: StepContext,
        kept: dict[str, KeptOutput],
        captions: Captions | str | None = None,
    ) -> None:
        self.svc, self.view, self.recorder, self.ctx, self.kept = svc, view, recorder, ctx, kept
        self.captions = captions  # the transcript as subtitles; a str says why there are none
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
        if self._still_stored(planned):
            log.info("job %s: %s kept from the attempt before (still in storage)", self.view.job_id, planned.item_id)
            return
        self.recorder.start(planned.item_id)
        out = self.ctx.work / "out" / PurePosixPath(planned.target_key).name
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            metadata = self._make(planned, out)
            self.recorder.lease.check()
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

    def _still_stored(self, planned: PlannedItem) -> bool:
        """An output an earlier attempt finished, at the planned key and with the recorded size."""
        kept = self.kept.get(planned.item_id)
        if kept is None or kept.s3_key != planned.target_key:
            return False
        try:
            head = self.svc.store.head(kept.s3_key)
        except STORAGE_ERRORS:
            return False  # cannot tell: make it again
        return head is not None and (kept.size is None or head.size == kept.size)

    def _make(self, planned: PlannedItem, out: Path) -> dict[str, Any]:
        def progress(percent: float | None) -> None:
            self.recorder.progress(planned.item_id, percent)

        if planned.kind == "rendition":
            assert planned.quality is not None and self.choice is not None
            metadata = make_rendition(self.ctx, planned.quality, out, progress)
            if self.choice.kept_source_size == planned.quality:
                metadata["kept_source_size"] = True  # every requested quality was above the source
            if isinstance(self.captions, Captions):
                add_soft_track(lambda args: run_step(self.ctx, args, None, progress), out, self.captions)
                metadata["captions"] = f"subtitle track, {self.captions.lines} lines"
            elif isinstance(self.captions, str):
                metadata["captions"] = f"none: {self.captions}"
            return metadata
        if planned.kind == "audio":
            return make_audio(self.ctx, out, progress)
        if planned.kind == "clip":
            assert planned.index is not None
            start, length = self.windows[planned.index - 1]
            burn = None
            if isinstance(self.captions, Captions) and self.view.options.get("burn_captions"):
                burn = self.captions.for_window(planned.index, start, length)
            return make_clip(self.ctx, start, length, self.clip_quality, out, progress, burn)
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
    recorder.lease.check()
    try:
        svc.store.put_bytes(planned.target_key, body, "application/json")
    except STORAGE_ERRORS as exc:
        log.warning("job %s: storage error %s on metadata.json", view.job_id, type(exc).__name__)
        error = "Storage was unavailable while saving metadata.json."
        recorder.finish(planned.item_id, "failed", error=error, error_type="storage_error")
        return
    recorder.finish(planned.item_id, "completed", s3_key=planned.target_key, size=len(body), item_metadata=None)
