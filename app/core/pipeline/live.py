"""The in-memory side of one item while a driver thread works on it: what the user asked, and live progress.

One path for pause, cancel and quit: a request goes to the work a stage attached (a running encode can
wait in place: ffmpeg suspended, continued from the same frame), or, when none is attached, makes the stage
end at its next `check()`; the item then continues from what was journaled (a parked upload, a job id, a
partial results ZIP).
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from app.core.transfer.control import TransferControl


class Interruption(enum.StrEnum):
    PAUSE = "pause"  # the user paused: held in place by attached work, else the stage ends to continue later
    CANCEL = "cancel"  # the user cancelled: the item's unfinished work is discarded
    QUIT = "quit"  # the app quits: stages stop, and the journaled stage is kept for the next launch


class StageInterrupted(Exception):
    """Raised inside a stage when the user paused or cancelled the item, or the app quits."""


class ItemPaused(StageInterrupted):
    """Paused by the user, or stopped because the app quits (`LiveItem.interruption` tells which)."""


class ItemCancelled(StageInterrupted):
    pass


class HeldWork(Protocol):
    """Work a pause can hold in place instead of ending it (a running encode and the upload following it)."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def stop(self) -> None:
        """Cancel or quit: end the work now; its stage then raises through `LiveItem.check()`."""


@dataclass(frozen=True)
class StageProgress:
    fraction: float | None = 0.0  # 0..1; None when it cannot be measured (an encode of unknown duration)
    rate: float | None = None
    eta: float | None = None
    size_after: int | None = None
    sent: int | None = None  # bytes of the output already uploaded while it is still being compressed


@dataclass
class LiveItem:
    """Shared between the driver thread (writes) and whoever takes snapshots (reads), under one lock."""

    # The token the transfer, polling and download code understand.
    control: TransferControl = field(default_factory=TransferControl)
    remove_when_done: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _interruption: Interruption | None = None
    _held: HeldWork | None = None
    _progress: Callable[[], StageProgress] | None = None
    # Waiting its turn: for a driver (submitted, not picked yet) or for the encoder (one encode at a time).
    _queued: bool = True

    @property
    def interruption(self) -> Interruption | None:
        with self._lock:
            return self._interruption

    @property
    def cancelled(self) -> bool:
        return self.interruption is Interruption.CANCEL

    @property
    def pausing(self) -> bool:
        """Paused by the user or stopped by a quit: either way the stage's work is kept for later."""
        return self.interruption in (Interruption.PAUSE, Interruption.QUIT)

    def request_pause(self) -> bool:
        """True when attached work holds the pause in place (the driver stays, the item is paused now);
        False when the stage ends at its next check instead (or the item is already cancelled or quitting)."""
        with self._lock:
            if self._interruption is None:
                self._interruption = Interruption.PAUSE
                self.control.pause()
                if self._held is not None:
                    self._held.pause()
            return self._interruption is Interruption.PAUSE and self._held is not None

    def request_resume(self) -> bool:
        """Continue held work in place; False when nothing holds a pause (the caller launches the item)."""
        with self._lock:
            if self._interruption is not Interruption.PAUSE or self._held is None:
                return False
            self._interruption = None
            self.control.resume()
            self._held.resume()
            return True

    def request_cancel(self) -> None:
        self._stop(Interruption.CANCEL)
        self.control.cancel()

    def request_quit(self) -> None:
        self._stop(Interruption.QUIT)
        self.control.pause()  # the journals keep transfers for the next launch

    def _stop(self, interruption: Interruption) -> None:
        with self._lock:
            if self._interruption is Interruption.CANCEL:
                return  # cancel is final
            self._interruption = interruption
            if self._held is not None:
                self._held.stop()

    def attach(self, work: HeldWork) -> None:
        """Route pause, resume, cancel and quit to `work` until `detach()`. Raises (like `check`) instead
        if one is already pending: the work must not start then."""
        with self._lock:
            self._raise_if_interrupted()
            self._held = work

    def detach(self) -> None:
        with self._lock:
            self._held = None

    def check(self) -> None:
        with self._lock:
            self._raise_if_interrupted()

    def _raise_if_interrupted(self) -> None:
        if self._interruption is Interruption.CANCEL:
            raise ItemCancelled()
        if self._interruption is not None:
            raise ItemPaused()

    @property
    def queued(self) -> bool:
        with self._lock:
            return self._queued

    def set_queued(self, queued: bool) -> None:
        with self._lock:
            self._queued = queued

    def set_progress_source(self, source: Callable[[], StageProgress] | None) -> None:
        with self._lock:
            self._progress = source

    def progress(self) -> StageProgress:
        with self._lock:
            source = self._progress
        return source() if source else StageProgress()
