"""Progress as plain data: parse ffmpeg's ``-progress pipe:1`` blocks into monotonic snapshots.

``EncodeSnapshot`` is immutable; ``EncodeTracker`` keeps the latest one behind a lock so a GUI timer
can pull it (``tracker.latest()``) while the encoding thread pushes (``tracker(snapshot)``).
``EncodeControl`` is the other direction: cancel, pause and resume for one running ffmpeg.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol


class CancelToken(Protocol):
    """Anything shaped like ``threading.Event``."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class EncodeState(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class EncodeControl:
    """Cancel, pause and resume for one ffmpeg run; pass it as ``run_ffmpeg``'s ``cancel`` token.

    It is a ``CancelToken`` (``is_set``/``wait`` mean "cancelled"), so code that only cancels takes it as it
    is. ``run_ffmpeg`` suspends the process while the state is PAUSED and lets it go on when it is RUNNING
    again: the same process continues from the same frame, nothing is encoded twice. Cancel is final.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = EncodeState.RUNNING
        self._cancelled = threading.Event()
        self._changed = threading.Event()  # wakes the runner's watcher at once, whatever changed

    @property
    def state(self) -> EncodeState:
        with self._lock:
            return self._state

    def pause(self) -> None:
        self._move(EncodeState.PAUSED)

    def resume(self) -> None:
        self._move(EncodeState.RUNNING)

    def cancel(self) -> None:
        self._move(EncodeState.CANCELLED)

    def _move(self, state: EncodeState) -> None:
        with self._lock:
            if self._state is EncodeState.CANCELLED:
                return
            self._state = state
            if state is EncodeState.CANCELLED:
                self._cancelled.set()
        self._changed.set()

    def is_set(self) -> bool:
        return self._cancelled.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._cancelled.wait(timeout)

    def wait_for_change(self, timeout: float) -> EncodeState:
        """The state, once it changed or ``timeout`` passed (for the watcher that applies it)."""
        self._changed.wait(timeout)
        self._changed.clear()
        return self.state


@dataclass(frozen=True)
class EncodeSnapshot:
    percent: float | None
    """0–100; None while the total duration is unknown. Never goes down; 100 only on success."""
    out_time_s: float
    total_s: float | None
    speed: float | None
    """Media seconds encoded per wall-clock second (ffmpeg's "1.5x" is 1.5)."""
    eta_s: float | None
    elapsed_s: float
    output_bytes: int | None = None
    frame: int | None = None
    done: bool = False


class EncodeTracker:
    """Thread-safe holder of the latest snapshot; pass it as ``on_progress``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: EncodeSnapshot | None = None

    def __call__(self, snapshot: EncodeSnapshot) -> None:
        with self._lock:
            self._latest = snapshot

    def latest(self) -> EncodeSnapshot | None:
        with self._lock:
            return self._latest


class FfmpegProgressParser:
    """Feed it stdout lines of ``ffmpeg -progress pipe:1``; it returns a snapshot at each block's end."""

    def __init__(self, total_s: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.total_s = total_s if total_s and total_s > 0 else None
        self._clock = clock
        self._started = clock()
        self._fields: dict[str, str] = {}
        self._out_time_s = 0.0
        self._percent: float | None = 0.0 if self.total_s else None

    def feed(self, line: str) -> EncodeSnapshot | None:
        key, sep, value = line.strip().partition("=")
        if not sep:
            return None
        self._fields[key] = value.strip()
        if key != "progress":
            return None
        snapshot = self._snapshot(self._clock() - self._started)
        self._fields.clear()
        return snapshot

    def finished(self) -> EncodeSnapshot:
        """The final snapshot, once ffmpeg exited successfully."""
        elapsed = self._clock() - self._started
        if self.total_s:
            self._out_time_s = max(self._out_time_s, self.total_s)
        return replace(self._snapshot(elapsed), percent=100.0, eta_s=0.0, done=True)

    def _snapshot(self, elapsed: float) -> EncodeSnapshot:
        out_us = _number(self._fields.get("out_time_us")) or _number(self._fields.get("out_time_ms"))
        if out_us is not None and out_us > 0:
            self._out_time_s = max(self._out_time_s, out_us / 1_000_000)
        speed = _number(self._fields.get("speed", "").rstrip("x"))
        if not speed and elapsed > 0 and self._out_time_s > 0:
            speed = self._out_time_s / elapsed
        eta = None
        if self.total_s:
            # Capped below 100: only a successful exit may report 100 (see finished()).
            raw = min(99.9, 100.0 * self._out_time_s / self.total_s)
            self._percent = max(self._percent or 0.0, raw)
            if speed:
                eta = max(0.0, (self.total_s - self._out_time_s) / speed)
        size = _number(self._fields.get("total_size"))
        frame = _number(self._fields.get("frame"))
        return EncodeSnapshot(
            percent=self._percent,
            out_time_s=self._out_time_s,
            total_s=self.total_s,
            speed=speed or None,
            eta_s=eta,
            elapsed_s=elapsed,
            output_bytes=int(size) if size is not None else None,
            frame=int(frame) if frame is not None else None,
        )


def _number(text: str | None) -> float | None:
    if not text or text == "N/A":
        return None
    try:
        return float(text)
    except ValueError:
        return None
