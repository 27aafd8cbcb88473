"""The one door between the core's threads and the Qt main thread.

Three jobs, all so that the main thread never waits on the network, the disk or ffmpeg:

* `run(fn, ..., on_done=, on_error=)` runs blocking work on a small thread pool and hands the result back
  on the main thread (Anki's TaskManager + run_on_main).
* `command(fn, ...)` runs pipeline commands (add, pause, cancel...) one after another on their own thread:
  they write the pipeline's journal, and the order the user clicked in is the order they happen in.
* A timer asks for the pipeline's snapshots every ~150 ms; they are taken and compared on a thread of
  their own, and emitted on the main thread only when something changed (progress as data, STYLE.md
  point 2), plus one signal per item that finished or failed. Why not take them on the main thread: with
  50 items and 8 uploads that is a few ms of Python each time, and every bit of it is GIL the window then
  has to win back from the upload threads.

Every answer crosses to the main thread through a MainThreadInbox (app.gui.inbox): a plain queue the main
thread drains. No thread but the main one ever touches a Qt object here, signals included: the bridge
used to emit a queued signal from its worker threads, and that crashed the app (issue 12).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.core.pipeline.model import ItemSnapshot, PipelineControl, QueueTotals, Stage, totals_of
from app.gui.inbox import MainThreadInbox

log = logging.getLogger(__name__)

POLL_INTERVAL_MS = 150


class Bridge(QObject):
    snapshots_changed = Signal(object)  # list[ItemSnapshot]
    totals_changed = Signal(object)  # QueueTotals
    item_finished = Signal(object)  # ItemSnapshot that just reached Done
    item_failed = Signal(object)  # ItemSnapshot that just failed

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        inbox: MainThreadInbox | None = None,
        workers: int = 4,
        interval_ms: int = POLL_INTERVAL_MS,
    ):
        super().__init__(parent)
        self._owns_inbox = inbox is None
        self.inbox = inbox if inbox is not None else MainThreadInbox(self)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reeldrop-gui")
        self._commands = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reeldrop-gui-command")
        self._snapshots = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reeldrop-gui-snapshot")
        self._taking: Future[Any] | None = None  # the snapshot being taken; a timer tick never queues a second
        self._generation = 0  # bumped by attach(): a snapshot of the pipeline before is dropped
        self._pipeline: PipelineControl | None = None
        self._last: list[ItemSnapshot] = []
        self._last_totals: QueueTotals | None = None
        self._stages: dict[str, Stage] = {}
        self._closed = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.poll)

    # -- background work --------------------------------------------------------------------------
    def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        executor: ThreadPoolExecutor | None = None,
    ) -> Future[Any]:
        """Run `fn(*args)` off the main thread; `on_done(result)` / `on_error(exc)` run on the main thread."""
        future = (executor or self._pool).submit(fn, *args)
        future.add_done_callback(lambda f: self._settle(f, on_done, on_error, getattr(fn, "__name__", "task")))
        return future

    def command(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Future[Any]:
        """Work that must happen in the order asked (pipeline commands, settings saves), one at a time;
        a failure goes to `on_error`, or to the log."""
        return self.run(fn, *args, on_done=on_done, on_error=on_error, executor=self._commands)

    def call_soon(self, callback: Callable[[Any], None], value: Any = None) -> None:
        """From any thread: run `callback(value)` on the main thread (touches no Qt object)."""
        if not self._closed:
            self.inbox.post(self._on_deliver, (callback, value))

    def _settle(
        self,
        future: Future[Any],
        on_done: Callable[[Any], None] | None,
        on_error: Callable[[BaseException], None] | None,
        name: str,
    ) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is None:
            if on_done is not None:
                self.call_soon(on_done, future.result())
        elif on_error is not None:
            self.call_soon(on_error, error)
        else:
            log.error("%s failed", name, exc_info=(type(error), error, error.__traceback__))

    def _on_deliver(self, delivery: tuple[Callable[[Any], None], Any]) -> None:
        callback, value = delivery
        if not self._closed:  # an answer queued just before closing: whoever closed has cleaned up
            callback(value)

    # -- pipeline snapshots -----------------------------------------------------------------------
    @property
    def pipeline(self) -> PipelineControl | None:
        return self._pipeline

    def attach(self, pipeline: PipelineControl | None) -> None:
        """Follow `pipeline` (None detaches). Stages seen on the first poll are not announced as news."""
        self._pipeline = pipeline
        self._generation += 1
        self._stages = {}
        self._last = []
        self._last_totals = None
        if pipeline is None:
            self._timer.stop()
            self.snapshots_changed.emit([])
            return
        self._stages = {item.item_id: item.stage for item in pipeline.snapshot()}
        self._timer.start()
        self.poll()

    @Slot()
    def poll(self) -> None:
        """Ask for fresh snapshots (returns at once; they arrive through the signals)."""
        pipeline = self._pipeline
        if pipeline is None or self._closed or (self._taking is not None and not self._taking.done()):
            return
        generation = self._generation
        try:
            self._taking = self._snapshots.submit(self._take, pipeline, generation)
        except RuntimeError:  # closed meanwhile
            return

    def _take(self, pipeline: PipelineControl, generation: int) -> None:
        """On the snapshot thread: an in-memory copy under the core's lock (no I/O), compared with the last."""
        try:
            items = pipeline.snapshot()
        except Exception:
            log.exception("could not take the queue's snapshot")
            return
        totals = totals_of(items)
        self.call_soon(self._publish, (generation, items, totals))

    def _publish(self, taken: tuple[int, list[ItemSnapshot], QueueTotals]) -> None:
        generation, items, totals = taken
        if generation != self._generation:
            return  # taken from a pipeline detached since
        if items != self._last:
            self._last = items
            self._announce(items)
            self.snapshots_changed.emit(items)
        if totals != self._last_totals:
            self._last_totals = totals
            self.totals_changed.emit(totals)

    def _announce(self, items: list[ItemSnapshot]) -> None:
        seen: dict[str, Stage] = {}
        for item in items:
            before = self._stages.get(item.item_id)
            seen[item.item_id] = item.stage
            if before is None or before == item.stage:
                # New rows announce nothing: a file refused on add shows its reason in the queue instead.
                continue
            if item.stage is Stage.DONE:
                self.item_finished.emit(item)
            elif item.stage is Stage.FAILED:
                self.item_failed.emit(item)
        self._stages = seen

    # -- shutdown ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop polling and drop queued background work; running tasks finish on their own and deliver
        nothing from then on."""
        self._closed = True
        self._timer.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._commands.shutdown(wait=False, cancel_futures=False)
        self._snapshots.shutdown(wait=False, cancel_futures=True)
        if self._owns_inbox:
            self.inbox.close()
