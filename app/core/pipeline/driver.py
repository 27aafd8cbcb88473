"""One dropped file through every stage: compress -> upload -> job -> poll -> results ZIP -> extract.

Each item is driven by one thread from a small pool (its width follows the concurrency setting, live);
stage boundaries are journaled in PipelineStore, so a quit or a crash continues each item where it stopped
(the upload engine's own journal makes the upload stage resume at the part level, the results download
resumes by byte range). The GUI and the CLI use only the PipelineControl surface and immutable snapshots.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app.core.api import BackendClient
from app.core.gated_pool import GatedPool
from app.core.media.presets import default_catalog
from app.core.paths import AppPaths
from app.core.pipeline.live import Interruption, ItemCancelled, ItemPaused, LiveItem, StageProgress
from app.core.pipeline.model import ItemSnapshot, QueueTotals, Stage, totals_of
from app.core.pipeline.sources import expand_sources, refuse_reason
from app.core.pipeline.stages import StageFailed, StageRedo, StageRunner, cancelled_changes
from app.core.pipeline.store import ItemRecord, PipelineStore
from app.core.pipeline.timing import WORK_STAGES, StageClock
from app.core.settings import MAX_CONCURRENCY, Settings
from app.core.transfer.engine import UploadEngine
from app.core.transfer.journal import Journal

log = logging.getLogger(__name__)

_ORDER = [Stage.COMPRESSING, Stage.UPLOADING, Stage.PROCESSING, Stage.DOWNLOADING, Stage.DONE]
# How often one drive of an item may go back a stage because the server lost what it followed (StageRedo):
# once is a server that was reset; again and again is a server that loses everything, and the item fails.
MAX_REDOS = 2


def item_drivers(concurrency: int) -> int:
    """How many items are worked on at once for a connection budget of `concurrency`: one more than the
    budget, so the connections stay busy while another item encodes, is processed or downloads."""
    return max(4, concurrency + 1)


class Pipeline:
    def __init__(
        self,
        runner: StageRunner,
        store: PipelineStore,
        *,
        default_preset: str,
        output_dir: Path,
        max_active: int = 4,
        autostart: bool = True,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self._runner = runner
        self._store = store
        self.default_preset = default_preset
        self.output_dir = output_dir
        self.autostart = autostart
        self._on_change = on_change
        self._lock = threading.Lock()
        self._live: dict[str, LiveItem] = {}
        # Where an item's stage stood when a pause ended it (a parked upload, a partial download): a paused
        # file shows that, not the start of its stage. In memory: after a restart it shows the stage's start.
        self._paused_progress: dict[str, StageProgress] = {}
        self._clock = StageClock()  # each stage's share of an item's bar: its expected time
        self._records: dict[str, ItemRecord] = {r.item_id: r for r in store.all()}
        most = max(max_active, item_drivers(MAX_CONCURRENCY))
        self._drivers = GatedPool(max_active, most=most, thread_name_prefix="reeldrop-item")
        self._closed = False

    # -- life cycle -------------------------------------------------------------------------------
    def resume_unfinished(self) -> list[str]:
        """After a launch: continue every item that was working when the app quit or crashed."""
        resumed = []
        for record in list(self._records.values()):
            stage = record.stage
            if stage in (Stage.COMPRESSING, Stage.UPLOADING, Stage.PROCESSING, Stage.DOWNLOADING) or (
                stage is Stage.WAITING and self.autostart
            ):
                self._launch(record.item_id)
                resumed.append(record.item_id)
        return resumed

    def shutdown(self, wait: bool = True) -> None:
        """Stop driving items; their journaled stages stay as they are so the next launch resumes them."""
        with self._lock:
            self._closed = True
            lives = list(self._live.values())
        for live in lives:
            live.request_quit()
        self._drivers.shutdown(wait=wait, cancel_futures=True)
        self._runner.close()

    # -- PipelineControl --------------------------------------------------------------------------
    def add(self, paths: Sequence[Path], preset: str | None = None, output_dir: Path | None = None) -> list[str]:
        preset = preset or self.default_preset
        default_catalog().get(preset)  # an unknown preset is the caller's bug: fail loudly here
        ids = []
        for source in expand_sources(paths):
            reason = refuse_reason(source)
            if reason is not None:
                record = self._store.add(
                    source, preset, output_dir or self.output_dir, Stage.FAILED, error=reason[1], error_type=reason[0]
                )
            else:
                size = source.stat().st_size
                record = self._store.add(source, preset, output_dir or self.output_dir, size_before=size)
            with self._lock:
                self._records[record.item_id] = record
            ids.append(record.item_id)
            if reason is None and self.autostart:
                self._launch(record.item_id)
            self._changed(record.item_id)
        return ids

    def start(self, item_id: str) -> None:
        record = self._record(item_id)
        if record.stage is Stage.WAITING:
            self._launch(item_id)

    def pause(self, item_id: str) -> None:
        with self._lock:
            live = self._live.get(item_id)
        if live is not None:
            at = self._record(item_id).stage
            if live.request_pause() and at is not Stage.PAUSED:  # held in place (a suspended encode): paused
                self._save(item_id, stage=Stage.PAUSED, paused_stage=at)  # now, and its driver stays
            # else the stage ends at its next check and the driver records the pause
        elif self._record(item_id).stage is Stage.WAITING:
            self._save(item_id, stage=Stage.PAUSED, paused_stage=Stage.WAITING)

    def resume(self, item_id: str) -> None:
        record = self._record(item_id)
        if record.stage is not Stage.PAUSED:
            return
        with self._lock:
            live = self._live.get(item_id)
        continued = live is not None and live.request_resume()  # the held encode goes on from its frame
        self._save(item_id, stage=record.paused_stage or Stage.WAITING, paused_stage=None)
        if not continued:
            self._launch(item_id)

    def cancel(self, item_id: str) -> None:
        with self._lock:
            live = self._live.get(item_id)
        if live is not None:
            live.request_cancel()
            return
        record = self._record(item_id)
        if not record.stage.finished:
            self._runner.discard(record)
            self._save(item_id, stage=Stage.CANCELLED, paused_stage=None, **cancelled_changes(record))

    def retry(self, item_id: str) -> None:
        record = self._record(item_id)
        if record.stage not in (Stage.FAILED, Stage.CANCELLED):
            return
        reason = refuse_reason(record.source)
        if reason is not None:
            self._save(item_id, error=reason[1], error_type=reason[0])
            return
        # Start again at the first stage whose result is missing; what was done is kept.
        stage = self._runner.first_missing_stage(record)
        forget: dict[str, object] = {"job_id": None, "upload_id": None} if stage is not Stage.PROCESSING else {}
        self._clock.forget(item_id)  # its bar starts again from what is left to do
        self._save(item_id, stage=stage, error=None, error_type=None, **forget)
        self._launch(item_id)

    def remove(self, item_id: str) -> None:
        with self._lock:
            live = self._live.get(item_id)
        if live is not None:
            live.request_cancel()
            live.remove_when_done = True
            return
        record = self._record(item_id)
        if not record.stage.finished:
            self._runner.discard(record)
        self._store.remove(item_id)
        with self._lock:
            self._records.pop(item_id, None)
            self._paused_progress.pop(item_id, None)
        self._clock.forget(item_id)
        self._changed(item_id)

    def set_preset(self, item_id: str, preset: str) -> None:
        default_catalog().get(preset)
        record = self._record(item_id)
        with self._lock:
            if item_id in self._live:  # paused mid-encode: that encode goes on with the preset it began with
                return
        if record.stage in (Stage.WAITING, Stage.PAUSED) and not record.compressed_path:
            self._save(item_id, preset=preset)

    def snapshot(self) -> list[ItemSnapshot]:
        with self._lock:
            records = sorted(self._records.values(), key=lambda r: r.position)
            lives = dict(self._live)
            held = dict(self._paused_progress)
        return [self._snapshot_of(r, lives.get(r.item_id), held.get(r.item_id), self._clock) for r in records]

    def totals(self) -> QueueTotals:
        return totals_of(self.snapshot())

    def record(self, item_id: str) -> ItemRecord:
        return self._record(item_id)

    def apply_settings(self, settings: Settings) -> None:
        """Settings changed while running: what can change live does, at once."""
        self.default_preset = settings.default_preset
        self.output_dir = settings.output_folder
        self.autostart = settings.start_on_add
        # Items beyond the new width wait their turn; lowered, the items at work finish their stage run.
        self._drivers.set_limit(min(item_drivers(settings.concurrency), self._drivers.most))
        self._runner.apply_settings(settings)

    @property
    def max_active(self) -> int:
        """How many items are worked on at once."""
        return self._drivers.limit

    @property
    def upload_concurrency(self) -> int:
        """The upload engine's connection budget (it follows the concurrency setting)."""
        return self._runner.engine.concurrency

    @property
    def uploads_in_flight(self) -> int:
        """Parts and single-request uploads on the wire now, across every file."""
        return self._runner.engine.connections_in_use

    def records(self) -> list[ItemRecord]:
        with self._lock:
            return sorted(self._records.values(), key=lambda r: r.position)

    def continue_item(self, item_id: str) -> None:
        """Go on with an item from wherever it stands: running stages resume, paused ones resume, failed or
        cancelled ones are retried from the first stage whose result is missing."""
        stage = self._record(item_id).stage
        if stage is Stage.PAUSED:
            self.resume(item_id)
        elif stage in (Stage.FAILED, Stage.CANCELLED):
            self.retry(item_id)
        elif not stage.finished:
            self._launch(item_id)

    # -- driving ----------------------------------------------------------------------------------
    def _launch(self, item_id: str) -> None:
        with self._lock:
            if self._closed or item_id in self._live:
                return
            live = LiveItem()
            self._live[item_id] = live
            self._paused_progress.pop(item_id, None)
        self._drivers.submit(self._drive, item_id, live)

    def _drive(self, item_id: str, live: LiveItem) -> None:
        live.set_queued(False)  # a driver took it
        try:
            record = self._record(item_id)
            if record.stage is Stage.WAITING:
                record = self._save(item_id, stage=Stage.COMPRESSING)
            redos = 0
            while record.stage in WORK_STAGES:
                live.check()
                stage = record.stage
                self._clock.stage_began(item_id, stage)
                try:
                    changes = self._runner.run(stage, record, live)
                except StageRedo as redo:
                    self._clock.interrupted(item_id)
                    live.set_progress_source(None)
                    redos += 1
                    if redos > MAX_REDOS:
                        raise StageFailed("job_unavailable", f"{redo} (again); Retry sends it again.") from redo
                    record = self._save(item_id, stage=redo.stage, **redo.changes)
                    continue
                live.set_progress_source(None)
                next_stage = _ORDER[_ORDER.index(stage) + 1]
                record = self._save(item_id, stage=next_stage, **changes)
                self._clock.stage_ended(item_id, stage, record)
        except ItemPaused:
            # A quit keeps the journaled stage as it is: the next launch continues from there.
            if live.interruption is not Interruption.QUIT:
                stood = live.progress()
                with self._lock:
                    self._paused_progress[item_id] = stood
                paused_at = self._record(item_id).stage
                if paused_at is not Stage.PAUSED:  # (already recorded if a held pause ended this way)
                    self._save(item_id, stage=Stage.PAUSED, paused_stage=paused_at)
        except ItemCancelled:
            cancelled = self._record(item_id)
            self._runner.discard(cancelled)
            self._save(item_id, stage=Stage.CANCELLED, paused_stage=None, **cancelled_changes(cancelled))
        except StageFailed as exc:
            name, reason = Path(self._record(item_id).source).name, str(exc)
            # Most reasons name the file already ("notes.mp4: not a video"): never "notes.mp4: notes.mp4: …".
            log.warning("%s", reason if reason.startswith(name) else f"{name}: {reason}")
            self._save(item_id, stage=Stage.FAILED, error=str(exc), error_type=exc.error_type, **exc.changes)
        except Exception as exc:  # a bug must fail one item, never the queue
            log.exception("item %s failed unexpectedly", item_id)
            self._save(item_id, stage=Stage.FAILED, error=f"Unexpected error: {exc}", error_type="internal")
        finally:
            self._clock.interrupted(item_id)  # (a stage that ended has already been timed)
            with self._lock:
                self._live.pop(item_id, None)
                latest = self._records.get(item_id)
            if live.remove_when_done:
                self.remove(item_id)
            elif latest is not None and latest.stage in WORK_STAGES and live.interruption is Interruption.PAUSE:
                self._launch(item_id)  # resumed while this driver was still winding down from the pause

    # -- helpers ----------------------------------------------------------------------------------
    def _record(self, item_id: str) -> ItemRecord:
        with self._lock:
            record = self._records.get(item_id)
        if record is None:
            raise KeyError(f"no queued item {item_id}")
        return record

    def _save(self, item_id: str, **changes: object) -> ItemRecord:
        record = self._store.update(item_id, **changes)
        with self._lock:
            if item_id in self._records:
                self._records[item_id] = record
        self._changed(item_id)
        return record

    def _changed(self, item_id: str) -> None:
        if self._on_change is not None:
            try:
                self._on_change(item_id)
            except Exception:
                log.exception("change listener failed")

    @staticmethod
    def _snapshot_of(
        record: ItemRecord, live: LiveItem | None, held: StageProgress | None, clock: StageClock
    ) -> ItemSnapshot:
        stage = record.stage
        if live is not None:
            progress = live.progress()
        elif held is not None and stage is Stage.PAUSED:
            progress = held
        else:
            progress = StageProgress()
        paused = stage is Stage.PAUSED
        # A paused item shows where its work stands: held in place (a suspended encode), its live progress.
        working = record.paused_stage if paused and record.paused_stage else stage
        unknown = False
        if working in WORK_STAGES:
            unknown = progress.fraction is None  # say, an encode of a source whose duration is unknown
            fraction = progress.fraction or 0.0
            overall = clock.overall(record, working, progress, paused=paused)
        elif stage is Stage.DONE:
            overall, fraction = 1.0, 1.0
        else:
            overall, fraction = 0.0, 0.0
        return ItemSnapshot(
            item_id=record.item_id,
            source=record.source,
            preset=record.preset,
            stage=stage,
            stage_fraction=fraction,
            overall_fraction=overall,
            size_before=record.size_before,
            size_after=progress.size_after or record.compressed_size,
            rate=None if paused else progress.rate,
            eta=None if paused else progress.eta,
            error=record.error,
            error_type=record.error_type,
            job_id=record.job_id,
            results_dir=record.results_dir,
            encoder=record.encoder,
            paused_stage=record.paused_stage,
            sent_while_compressing=progress.sent if working is Stage.COMPRESSING else None,
            progress_unknown=unknown,
            queued=live is not None and live.queued and stage in (Stage.WAITING, Stage.COMPRESSING),
        )


def open_pipeline(
    client: BackendClient,
    settings: Settings,
    paths: AppPaths,
    backend_id: str,
    *,
    on_change: Callable[[str], None] | None = None,
    job_options: dict[str, Any] | None = None,
    download_limit: float | None = None,
) -> Pipeline:
    """The pipeline for one backend, with its queue and journals in the user data dir. `backend_id` tells
    backends apart (see app.connect.Target.backend_id): each has its own queue file. `download_limit` caps
    the results downloads in bytes/s (the settings' bandwidth limit is the uploads')."""
    paths.ensure()
    # The queue first: one a newer release wrote (SchemaError) stops the opening before anything has started.
    store = PipelineStore(queue_file(paths, backend_id))
    try:
        journal = Journal.open(paths.data / "journal.sqlite3")
    except BaseException:
        store.close()
        raise
    part_size = settings.part_size_mib * 1024 * 1024 if settings.part_size_mib else None
    engine = UploadEngine(
        client,
        journal,
        concurrency=settings.concurrency,
        bandwidth_limit=settings.bandwidth_limit,
        part_size=part_size,
        backend_id=backend_id,
    )
    runner = StageRunner(
        client,
        engine,
        paths.cache / "work",
        allow_hardware=settings.hardware_encoder,
        job_options=job_options,
        upload_while_compressing=settings.upload_while_compressing,
        download_limit=download_limit,
    )
    return Pipeline(
        runner,
        store,
        default_preset=settings.default_preset,
        output_dir=settings.output_folder,
        max_active=item_drivers(settings.concurrency),
        autostart=settings.start_on_add,
        on_change=on_change,
    )


def queue_file(paths: AppPaths, backend_id: str) -> Path:
    """Where the queue of one backend is journaled (see open_pipeline)."""
    slug = "".join(c if c.isalnum() else "-" for c in backend_id.lower()).strip("-")[:80] or "default"
    return paths.data / f"queue-{slug}.sqlite3"


def saved_queue(paths: AppPaths, backend_id: str) -> list[ItemSnapshot]:
    """The queue of one backend as its journal last recorded it, for showing while the backend starts:
    a local read, no server and no pipeline (nothing is started or changed). [] when there is no queue yet."""
    path = queue_file(paths, backend_id)
    if not path.exists():
        return []
    store = PipelineStore(path)
    try:
        clock = StageClock()  # nothing timed yet: each stage's share as modelled
        return [Pipeline._snapshot_of(record, None, None, clock) for record in store.all()]
    finally:
        store.close()
