"""The work of each pipeline stage for one item. Each returns the journal fields it produced."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core.api import BackendClient, BackendError
from app.core.jobs import JobPoller, JobPollError
from app.core.media import MediaCancelled, MediaError, compress, default_catalog, prepare, probe
from app.core.media.encoders import EncoderChoice, choose_encoder
from app.core.media.presets import Preset, PresetError
from app.core.media.progress import EncodeControl, EncodeTracker
from app.core.pipeline.live import Interruption, ItemCancelled, ItemPaused, LiveItem, StageProgress
from app.core.pipeline.model import Stage
from app.core.pipeline.overlap import StreamingUploads
from app.core.pipeline.store import ItemRecord
from app.core.results.fetch import ResultsFetch
from app.core.results.model import ResultsDownloadError
from app.core.results.zipcheck import ZipExtractError
from app.core.settings import Settings
from app.core.transfer.control import TransferCancelled, TransferPaused
from app.core.transfer.engine import UploadEngine
from app.core.transfer.growing import GrowingFile, WriterStopped
from app.core.transfer.handle import UploadCancelled, UploadError, UploadHandle, UploadInterrupted, UploadResult
from app.core.transfer.throttle import Throttle

log = logging.getLogger(__name__)


class StageFailed(Exception):
    """A stage could not finish; the message is for the user and names the file and the cause."""

    def __init__(self, error_type: str, message: str, **changes: Any) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.changes = changes


class StageRedo(Exception):
    """The server no longer has what this stage follows (its job is gone): the item goes back to `stage`,
    with `changes` journaled, and carries on by itself (the compressed copy is sent again, a new job made)."""

    def __init__(self, stage: Stage, reason: str, **changes: Any) -> None:
        super().__init__(reason)
        self.stage = stage
        self.changes = changes


class EncoderSlots:
    """How many encodes run at once: one, since ffmpeg already uses every core and a second encode would only
    make both slower while the finished one could already be uploading. A paused encode lends its slot to
    the next file's; resumed, it goes on at once (the user asked for it now), and the encode after them
    waits for both to end."""

    def __init__(self, limit: int = 1) -> None:
        self._limit = limit
        self._busy = 0
        self._changed = threading.Condition()

    def take(self, check: Callable[[], None]) -> None:
        """Wait for a free slot; `check` raises to stop waiting (a pause or cancel meanwhile)."""
        while True:
            with self._changed:
                if self._busy < self._limit:
                    self._busy += 1
                    return
                self._changed.wait(0.2)
            check()  # outside the lock: it takes the item's own lock

    def take_now(self) -> None:
        with self._changed:
            self._busy += 1

    def give_back(self) -> None:
        with self._changed:
            self._busy -= 1
            self._changed.notify()


class RunningEncode:
    """One item's encode as the work its pause holds: ffmpeg suspended (same process, same frame) and the
    upload that follows its output paused with it, its encoder slot lent meanwhile."""

    def __init__(self, item_id: str, slots: EncoderSlots, streams: StreamingUploads | None) -> None:
        self.item_id = item_id
        self.control = EncodeControl()
        self.slots = slots
        self.streams = streams
        self.paused = False
        self._holds_slot = True  # taken before this was made; LiveItem serialises the calls below

    def pause(self) -> None:
        self.paused = True
        self.control.pause()
        if self.streams is not None:
            self.streams.pause(self.item_id)
        self._give_back_slot()

    def resume(self) -> None:
        self.paused = False
        if not self._holds_slot:
            self.slots.take_now()
            self._holds_slot = True
        if self.streams is not None:
            self.streams.resume(self.item_id)
        self.control.resume()

    def stop(self) -> None:
        self.control.cancel()

    def end(self) -> None:
        self._give_back_slot()

    def _give_back_slot(self) -> None:
        if self._holds_slot:
            self._holds_slot = False
            self.slots.give_back()


class CompressStage:
    def __init__(self, work_dir: Path, allow_hardware: bool, streams: StreamingUploads | None = None) -> None:
        self.output_dir = work_dir / "compressed"
        self.temp_dir = work_dir / "tmp"
        self.allow_hardware = allow_hardware
        self.streams = streams  # None: the upload waits for the finished file (no compress-while-upload)
        self._encoder: EncoderChoice | None = None
        self._slots = EncoderSlots()

    def forget_encoder(self) -> None:
        self._encoder = None

    def encoder(self) -> EncoderChoice:
        if self._encoder is None:
            self._encoder = choose_encoder(allow_hardware=self.allow_hardware)
        return self._encoder

    def output_for(self, record: ItemRecord, extension: str) -> Path:
        """One folder per item keeps the file's own name: the server and the results use it."""
        extension = extension if extension.startswith(".") else "." + extension
        return self.output_dir / record.item_id / f"{record.source.stem}{extension}"

    def run(self, record: ItemRecord, live: LiveItem) -> dict[str, Any]:
        source = record.source
        preset = default_catalog().get(record.preset)
        if preset.name == "original":  # no re-encode: the file goes up as it is
            return {"compressed_path": str(source), "compressed_size": source.stat().st_size, "encoder": None}
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        streams = self.streams  # the setting may change mid-encode; this encode keeps what it began with
        tracker = EncodeTracker()
        live.set_progress_source(lambda: _compress_progress(tracker, streams, record.item_id, record.size_before))
        live.set_queued(True)  # shown as Queued, not "Compressing 0 %", while another file's encode runs
        try:
            self._slots.take(live.check)
        finally:
            live.set_queued(False)
        encode = RunningEncode(record.item_id, self._slots, streams)
        try:
            live.attach(encode)  # from here a pause suspends this encode instead of ending the stage
            try:
                return self._encode(record, live, source, preset, tracker, encode)
            finally:
                live.detach()
        finally:
            encode.end()

    def _encode(
        self,
        record: ItemRecord,
        live: LiveItem,
        source: Path,
        preset: Preset,
        tracker: EncodeTracker,
        encode: RunningEncode,
    ) -> dict[str, Any]:
        streams = encode.streams
        try:
            info = probe(source)
            if info.video is None and info.audio is not None and preset.kind == "video":
                # A song or a voice-over dropped with a video preset: compress it as audio, not fail it.
                preset = default_catalog().get("audio")
            prepared = prepare(source, preset, info=info, encoder=self.encoder() if preset.kind == "video" else None)
            destination = self.output_for(record, prepared.plan.extension)
            destination.parent.mkdir(parents=True, exist_ok=True)
            bound = streams.bound(prepared.plan, prepared.info) if streams is not None else None
            followers: list[GrowingFile] = []
            try:
                result = compress(
                    source,
                    destination,
                    preset,
                    temp_dir=self.temp_dir,
                    encoder=prepared.encoder,
                    info=prepared.info,
                    on_progress=tracker,
                    cancel=encode.control,
                    fragmented=bound is not None,
                    in_place=bound is not None,
                    on_output_started=_follower(streams, record, bound, followers),
                )
            except BaseException:
                asked = live.interruption
                why = WriterStopped.FAILED if asked is None else _WRITER_STOPPED[asked]
                for growing in followers:  # its upload ends the same way (a failure is aborted on the server)
                    growing.abandon(why)
                if streams is not None:
                    streams.let_go(record.item_id)
                raise
            for growing in followers:
                growing.finish()
        except MediaCancelled:
            if live.interruption is Interruption.QUIT:
                log.info(
                    "%s: the app quits at %s of its encode; the encode starts again %s",
                    source.name,
                    _percent_text(tracker),
                    "when it is resumed" if encode.paused else "at the next launch",
                )
            live.check()
            raise
        except MediaError as exc:
            raise StageFailed(exc.error_type, _plain(exc, source)) from exc
        return {
            "compressed_path": str(result.path),
            "compressed_size": result.size_bytes,
            "encoder": result.encoder,
        }

    def discard(self, record: ItemRecord) -> None:
        path = record.compressed_path
        if path and Path(path) != record.source:
            Path(path).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # the item's folder, once empty
            (self.output_dir / record.item_id).rmdir()


# How an encode that stopped early ends the upload that followed it (a failure when nobody asked).
_WRITER_STOPPED = {
    Interruption.CANCEL: WriterStopped.CANCELLED,
    Interruption.QUIT: WriterStopped.INTERRUPTED,
    Interruption.PAUSE: WriterStopped.INTERRUPTED,  # a pause holds the encode; this is only a fallback
}


def _follower(
    streams: StreamingUploads | None, record: ItemRecord, bound: int | None, followers: list[GrowingFile]
) -> Callable[[Path], None] | None:
    """What to do when ffmpeg is about to write its output: start uploading it as it grows (best effort:
    if the upload cannot start, the finished file goes up the ordinary way). None when it must not stream."""
    if streams is None or bound is None:
        return None

    def follow(path: Path) -> None:
        try:
            followers.append(streams.start(record.item_id, path, bound))
        except Exception:
            log.warning("%s: could not upload while encoding; it goes up once encoded", path.name, exc_info=True)

    return follow


def _compress_progress(
    tracker: EncodeTracker, streams: StreamingUploads | None, item_id: str, source_bytes: int | None
) -> StageProgress:
    snap = tracker.latest()
    if snap is None:
        return StageProgress()
    sent = streams.sent(item_id) if streams is not None else None
    # percent is None while the source's duration is unknown: the stage's fraction is unknown too.
    fraction = None if snap.percent is None else snap.percent / 100.0
    # The encode's speed as the source's bytes per second (ffmpeg's "1.5x" times the source's byte rate).
    rate = None
    if snap.speed and snap.total_s and source_bytes:
        rate = snap.speed * source_bytes / snap.total_s
    return StageProgress(fraction=fraction, rate=rate, eta=snap.eta_s, size_after=snap.output_bytes or None, sent=sent)


def _percent_text(tracker: EncodeTracker) -> str:
    snap = tracker.latest()
    return "an unknown point" if snap is None or snap.percent is None else f"{snap.percent:.0f} %"


def _plain(exc: MediaError, source: Path) -> str:
    """The media layer names the full path; the queue shows the file name."""
    return str(exc).replace(str(source), source.name)


# A job that ended this way will not end otherwise if asked again: a retry sends the file again and starts a
# new job. ORIGINAL_LOST: the server no longer has the uploaded copy (lost, or cleaned up); RESULTS_LOST: nor
# the job's results ZIP. The compressed copy is kept until the results are home, so neither re-encodes.
ORIGINAL_LOST = "original_lost"
RESULTS_LOST = "results_lost"
_JOB_ENDED = ("job_failed", "job_cancelled", ORIGINAL_LOST, RESULTS_LOST)
# The server's code (a job item's error_type) for an original that is not in its storage any more.
_SERVER_MISSING_OBJECT = "missing_object"


def first_missing_stage(record: ItemRecord) -> Stage:
    """Where a retry starts: the first stage whose result is gone. Finished work is never redone."""
    if record.job_id and record.error_type not in _JOB_ENDED:
        return Stage.PROCESSING  # the job's results are on the server; polling again is cheap
    return _before_the_job(record)


def _before_the_job(record: ItemRecord) -> Stage:
    """Where an item whose job (and upload) are of no more use starts again: the kept compressed copy goes
    up again; only without one is the source compressed again."""
    if record.compressed_path and record.compressed_path.exists():
        return Stage.UPLOADING
    return Stage.COMPRESSING


def original_lost_message(name: str) -> str:
    return f"The server no longer has the uploaded copy of {name} (it was lost or cleaned up). Retry sends it again."


def cancelled_changes(record: ItemRecord) -> dict[str, Any]:
    """What the journal keeps when `record` is cancelled at its current stage, besides the stage itself.

    A cancel while processing cancels the job on the server too (ProcessStage.run, StageRunner.discard), and a
    cancelled job stays cancelled: the record says so, or the first retry would ask that job again and fail
    with "the processing job was cancelled on the server". A cancel while downloading keeps the job (its
    results are still on the server, and a retry fetches them)."""
    return {"error_type": "job_cancelled"} if record.stage is Stage.PROCESSING else {}


class ProcessStage:
    """Wait for the backend job; the job runs on the server whatever happens to this app."""

    def __init__(self, client: BackendClient, max_wait: float = 6 * 3600) -> None:
        self.client = client
        self.max_wait = max_wait

    def run(self, record: ItemRecord, live: LiveItem) -> dict[str, Any]:
        name = record.source.name
        poller = JobPoller(self.client, record.job_id or "", control=live.control, max_wait=self.max_wait)
        live.set_progress_source(lambda: _job_progress(poller))
        try:
            doc = poller.wait()
        except TransferCancelled:
            self.cancel_job(record)
            raise ItemCancelled() from None
        except TransferPaused:
            raise ItemPaused() from None
        except JobPollError as exc:
            if _job_gone(exc):
                # The server says this job does not exist (its database was reset, or it was removed): a new
                # upload and a new job, from the compressed copy kept for this.
                log.info("%s: job %s is no longer on the server; sending the file again", name, record.job_id)
                raise StageRedo(
                    _before_the_job(record), f"{name}: the server no longer knows its job", job_id=None, upload_id=None
                ) from exc
            raise StageFailed("job_unavailable", f"{name}: could not follow the processing job: {exc}") from exc
        except BackendError as exc:
            raise StageFailed("job_unavailable", f"{name}: could not follow the processing job: {exc}") from exc
        status = doc.get("status")
        if status in ("completed", "partial"):
            return {}
        reason = doc.get("error") or _first_item_error(doc) or "no reason given"
        if status == "cancelled":
            raise StageFailed("job_cancelled", f"{name}: the processing job was cancelled on the server.")
        if _SERVER_MISSING_OBJECT in _item_error_types(doc):
            raise StageFailed(ORIGINAL_LOST, original_lost_message(name))
        raise StageFailed("job_failed", f"{name}: processing failed: {reason}")

    def cancel_job(self, record: ItemRecord) -> None:
        if not record.job_id:
            return
        try:
            self.client.cancel_job(record.job_id)
        except BackendError as exc:  # an ended job cannot be cancelled, and that is fine
            log.info("job %s not cancelled: %s", record.job_id, exc.code)


def _job_progress(poller: JobPoller) -> StageProgress:
    latest = poller.latest
    if latest is None:
        return StageProgress()
    return StageProgress(fraction=max(0.0, min(1.0, (latest.progress or 0) / 100.0)))


def _job_gone(exc: JobPollError) -> bool:
    """The poll stopped because the server answered 404 for the job (JobPoller keeps the answer as the cause)."""
    cause = exc.__cause__
    return isinstance(cause, BackendError) and cause.status == 404


def _item_error_types(doc: dict[str, Any]) -> set[str]:
    return {str(item["error_type"]) for item in doc.get("items") or [] if item.get("error_type")}


def _first_item_error(doc: dict[str, Any]) -> str | None:
    for item in doc.get("items") or []:
        if item.get("error"):
            return str(item["error"])
    return None


class DownloadStage:
    """Fetch the results ZIP (resumable, verified), then unpack it safely into the output folder."""

    def __init__(self, client: BackendClient, work_dir: Path, throttle: Throttle | None = None) -> None:
        self.client = client
        self.zip_dir = work_dir / "results"
        self.throttle = throttle  # a download rate limit (`reeldrop run --limit-rate`); None: as fast as it goes

    def zip_path(self, record: ItemRecord) -> Path:
        return self.zip_dir / f"{record.item_id}.zip"

    def run(self, record: ItemRecord, live: LiveItem) -> dict[str, Any]:
        name = record.source.name
        job_id = record.job_id or ""
        fetch = ResultsFetch(
            lambda: self.client.results_url(job_id),
            self.zip_path(record),
            record.output_dir,
            name,
            control=live.control,
            throttle=self.throttle,
        )
        live.set_progress_source(lambda: _download_progress(fetch))
        try:
            target = fetch.run()
        except TransferCancelled:
            raise ItemCancelled() from None
        except TransferPaused:
            raise ItemPaused() from None
        except (ResultsDownloadError, ZipExtractError, BackendError, OSError) as exc:
            raise _results_failure(name, exc) from exc
        return {"zip_path": None, "results_dir": str(target)}

    def discard(self, record: ItemRecord) -> None:
        for leftover in self.zip_dir.glob(f"{record.item_id}.zip*"):
            leftover.unlink(missing_ok=True)


def _results_failure(name: str, exc: BaseException) -> StageFailed:
    for cause in (exc, exc.__cause__):
        if isinstance(cause, BackendError) and cause.code == "results_missing":  # the job's ZIP is gone
            return StageFailed(
                RESULTS_LOST,
                f"The server no longer has the results of {name} (they were lost or cleaned up). Retry sends it again.",
            )
    return StageFailed("results_failed", f"{name}: the results could not be fetched: {exc}")


def _download_progress(fetch: ResultsFetch) -> StageProgress:
    progress = fetch.progress()
    if progress is None:
        return StageProgress()
    return StageProgress(fraction=progress.fraction, rate=progress.rate, eta=progress.eta)


def preset_outputs(preset_name: str) -> dict[str, Any]:
    """The job options that make the preset's outputs; a preset no longer defined leaves the server's defaults."""
    try:
        return default_catalog().get(preset_name).outputs.job_options()
    except PresetError:
        log.info("preset %r is not defined any more: the server makes its default outputs", preset_name)
        return {}


class UploadStage:
    """Upload the compressed file with the shared engine, then create the backend job for it."""

    def __init__(
        self,
        engine: UploadEngine,
        client: BackendClient,
        job_options: dict[str, Any],
        streams: StreamingUploads | None = None,
    ) -> None:
        self.engine = engine
        self.client = client
        self.job_options = job_options
        self.streams = streams
        # Handles paused by the user stay in the engine (their parts and journal intact) until resumed.
        self._parked: dict[str, UploadHandle] = {}
        self._lock = threading.Lock()

    def run(self, record: ItemRecord, live: LiveItem) -> dict[str, Any]:
        name = record.source.name
        with self._lock:
            handle = self._parked.pop(record.item_id, None)
        if handle is not None:
            handle.resume()
        else:
            taken = self.streams.take(record.item_id) if self.streams is not None else None
            handle = taken or self.engine.submit(record.compressed_path or record.source)
        try:
            result = self._follow(handle, record, live)
        except StageFailed as exc:
            if not handle.streamed:
                raise
            # The upload that ran beside the encoder failed on its own (not the user, not the file):
            # the finished file is whole on disk, so send it the ordinary way.
            log.warning("%s: the upload during encoding failed (%s); sending the encoded file", name, exc)
            handle = self.engine.submit(record.compressed_path or record.source)
            result = self._follow(handle, record, live)
        try:
            # What the server makes follows the file's preset; options given to the pipeline override it.
            job = self.client.create_job(result.upload_id, {**preset_outputs(record.preset), **self.job_options})
        except BackendError as exc:
            if exc.status == 404:  # the upload record is gone (the server's database was reset or cleaned)
                raise StageFailed(ORIGINAL_LOST, original_lost_message(name)) from exc
            raise StageFailed("job_refused", f"{name}: the server did not start processing: {exc}") from exc
        return {"upload_id": result.upload_id, "job_id": job["job_id"]}

    def _follow(self, handle: UploadHandle, record: ItemRecord, live: LiveItem) -> UploadResult:
        live.set_progress_source(lambda: _upload_progress(self.engine, handle))
        return self._wait(handle, record, live)

    def _wait(self, handle: UploadHandle, record: ItemRecord, live: LiveItem) -> UploadResult:
        while True:
            try:
                return handle.result(timeout=0.25)
            except TimeoutError:
                pass
            except UploadCancelled:
                raise ItemCancelled() from None
            except UploadInterrupted:
                raise ItemPaused() from None  # the engine is shutting down: the journal resumes it
            except UploadError as exc:
                raise StageFailed("upload_failed", str(exc).replace(str(handle.path), record.source.name)) from exc
            if live.cancelled:
                handle.cancel()
                with contextlib.suppress(UploadError, TimeoutError):
                    handle.result(timeout=60)
                raise ItemCancelled()
            if live.pausing:
                handle.pause()
                with self._lock:
                    self._parked[record.item_id] = handle
                raise ItemPaused()

    def discard(self, record: ItemRecord) -> None:
        with self._lock:
            handle = self._parked.pop(record.item_id, None)
        if handle is not None:
            handle.cancel()
        if self.streams is not None:
            self.streams.drop(record.item_id)


def _upload_progress(engine: UploadEngine, handle: UploadHandle) -> StageProgress:
    progress = engine.progress.file_snapshot(handle.file_id)  # this file only: not every file's, per item
    if progress is None:
        return StageProgress()
    return StageProgress(fraction=progress.fraction, rate=progress.rate, eta=progress.eta)


class StageRunner:
    """The four stages behind one `run(stage, record, live)`; owns nothing the pipeline must persist."""

    def __init__(
        self,
        client: BackendClient,
        engine: UploadEngine,
        work_dir: Path,
        *,
        allow_hardware: bool = True,
        job_options: dict[str, Any] | None = None,
        upload_while_compressing: bool = True,
        download_limit: float | None = None,
    ) -> None:
        self.client = client
        self.engine = engine
        self.streams = StreamingUploads(engine)
        self.compress = CompressStage(work_dir, allow_hardware, self.streams if upload_while_compressing else None)
        self.upload = UploadStage(engine, client, job_options or {}, self.streams)
        self.process = ProcessStage(client)
        self.download = DownloadStage(client, work_dir, Throttle(download_limit) if download_limit else None)

    def run(self, stage: Stage, record: ItemRecord, live: LiveItem) -> dict[str, Any]:
        steps: dict[Stage, CompressStage | UploadStage | ProcessStage | DownloadStage] = {
            Stage.COMPRESSING: self.compress,
            Stage.UPLOADING: self.upload,
            Stage.PROCESSING: self.process,
            Stage.DOWNLOADING: self.download,
        }
        step = steps[stage]
        changes = step.run(record, live)
        if stage is Stage.DOWNLOADING:
            self.compress.discard(record)  # the temp file served its purpose
        return changes

    def first_missing_stage(self, record: ItemRecord) -> Stage:
        return first_missing_stage(record)

    def apply_settings(self, settings: Settings) -> None:
        self.engine.set_bandwidth_limit(settings.bandwidth_limit)
        self.engine.set_concurrency(settings.concurrency)
        if self.compress.allow_hardware != settings.hardware_encoder:
            self.compress.allow_hardware = settings.hardware_encoder
            self.compress.forget_encoder()
        # Encodes that start from now on follow the setting; one already streaming finishes as it began.
        self.compress.streams = self.streams if settings.upload_while_compressing else None

    def discard(self, record: ItemRecord) -> None:
        """Forget an item's unfinished work: parked upload (aborted), running job, temp files."""
        self.upload.discard(record)
        if record.stage is Stage.PROCESSING:
            self.process.cancel_job(record)
        self.compress.discard(record)
        self.download.discard(record)

    def close(self) -> None:
        self.engine.shutdown(wait=True)
