"""The in-memory side of one item while a driver thread works on it: control flags and live progress."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from app.core.transfer.control import TransferControl


class StageInterrupted(Exception):
    """Raised inside a stage when the user paused or cancelled the item."""


class ItemPaused(StageInterrupted):
    pass


class ItemCancelled(StageInterrupted):
    pass


@dataclass(frozen=True)
class StageProgress:
    fraction: float = 0.0
    rate: float | None = None
    eta: float | None = None
    size_after: int | None = None
    sent: int | None = None  # bytes of the output already uploaded while it is still being compressed


@dataclass
class LiveItem:
    """Shared between the driver thread (writes) and whoever takes snapshots (reads), under one lock."""

    # The token the transfer, polling and download code understand; `stop` is what ffmpeg's runner polls.
    control: TransferControl = field(default_factory=TransferControl)
    pause_requested: threading.Event = field(default_factory=threading.Event)
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    # Set whenever either flag is raised: stages wait on it instead of polling two events.
    stop: threading.Event = field(default_factory=threading.Event)
    # The app is quitting: a pause caused by that must leave the journaled stage as it is.
    shutting_down: bool = False
    remove_when_done: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _progress: Callable[[], StageProgress] | None = None
    _on_stop: list[Callable[[], None]] = field(default_factory=list)

    def request_pause(self) -> None:
        self.pause_requested.set()
        self.control.pause()
        self._stop()

    def request_cancel(self) -> None:
        self.cancel_requested.set()
        self.control.cancel()
        self._stop()

    def _stop(self) -> None:
        self.stop.set()
        with self._lock:
            hooks = list(self._on_stop)
        for hook in hooks:
            hook()

    def check(self) -> None:
        if self.cancel_requested.is_set():
            raise ItemCancelled()
        if self.pause_requested.is_set():
            raise ItemPaused()

    def on_stop(self, hook: Callable[[], None]) -> None:
        """Run `hook` when pause or cancel is requested (at once if it already was)."""
        with self._lock:
            self._on_stop.append(hook)
        if self.stop.is_set():
            hook()

    def clear_stop_hooks(self) -> None:
        with self._lock:
            self._on_stop.clear()

    def set_progress_source(self, source: Callable[[], StageProgress] | None) -> None:
        with self._lock:
            self._progress = source

    def progress(self) -> StageProgress:
        with self._lock:
            source = self._progress
        return source() if source else StageProgress()
