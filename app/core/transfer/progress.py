"""Upload progress as immutable snapshots, safe to read from any thread (the GUI polls on a timer).

Two counters are kept apart on purpose:
- *done* is honest progress: bytes of parts that count towards the file. When a part is retried, the
  bytes it had sent are rolled back, so the bar can step back rather than lie.
- the *rate* is wire throughput over a sliding window (default 5 s): bytes that were really sent, retried
  or not. ETA = bytes still to send / rate, so a flaky link shows a longer ETA, not a faster one.
Nothing here calls back into the caller: writers update under one lock, readers take a snapshot.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from app.core.transfer.clock import SYSTEM_CLOCK, Clock

DEFAULT_WINDOW = 5.0
SAMPLE_RESOLUTION = 0.1


@dataclass(frozen=True, slots=True)
class FileProgress:
    file_id: Hashable
    done: int
    total: int
    rate: float
    eta: float | None
    finished: bool

    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)


@dataclass(frozen=True, slots=True)
class TransferSnapshot:
    taken_at: float
    done: int
    total: int
    rate: float
    eta: float | None
    files: tuple[FileProgress, ...]

    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)

    def file(self, file_id: Hashable) -> FileProgress | None:
        return next((item for item in self.files if item.file_id == file_id), None)


class _RateWindow:
    """Cumulative byte samples, bucketed by SAMPLE_RESOLUTION, over the last ``window`` seconds."""

    def __init__(self, start: float, window: float) -> None:
        self._window = window
        self._cumulative = 0
        self._samples: deque[tuple[float, int]] = deque([(start, 0)])

    def add(self, now: float, nbytes: int) -> None:
        self._cumulative += nbytes
        last_time, _ = self._samples[-1]
        if now - last_time < SAMPLE_RESOLUTION:
            self._samples[-1] = (last_time, self._cumulative)
        else:
            self._samples.append((now, self._cumulative))
        self._prune(now)

    def _prune(self, now: float) -> None:
        # Keep exactly one sample at or before the window start: it is the baseline of the window.
        window_start = now - self._window
        while len(self._samples) >= 2 and self._samples[1][0] <= window_start:
            self._samples.popleft()

    def rate(self, now: float) -> float:
        self._prune(now)
        base_time, base_bytes = self._samples[0]
        span = min(self._window, now - base_time)
        return (self._cumulative - base_bytes) / span if span > 0 else 0.0


def _eta(remaining: int, rate: float) -> float | None:
    if remaining <= 0:
        return 0.0
    return remaining / rate if rate > 0 else None


class _FileState:
    def __init__(self, total: int, done: int, start: float, window: float) -> None:
        self.total = total
        self.committed = done
        self.in_flight: dict[int, int] = {}
        self.finished = False
        self.window = _RateWindow(start, window)

    @property
    def done(self) -> int:
        return self.committed + sum(self.in_flight.values())


class TransferTracker:
    """Per-file and total progress of a batch; every method is thread-safe."""

    def __init__(self, *, window: float = DEFAULT_WINDOW, clock: Clock = SYSTEM_CLOCK) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self._window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._files: dict[Hashable, _FileState] = {}
        self._total_window = _RateWindow(clock.now(), window)

    def add_file(self, file_id: Hashable, total: int, done: int = 0) -> None:
        """Track a file of ``total`` bytes; ``done`` counts bytes already uploaded (a resume)."""
        if total < 0 or not 0 <= done <= total:
            raise ValueError(f"bad progress totals for {file_id!r}: done={done}, total={total}")
        with self._lock:
            self._files[file_id] = _FileState(total, done, self._clock.now(), self._window)

    def set_total(self, file_id: Hashable, total: int) -> None:
        """The file's size became known (a file uploaded while it was written was tracked at an upper bound)."""
        with self._lock:
            state = self._files.get(file_id)
            if state is not None:
                state.total = total
                state.committed = min(state.committed, total)

    def remove_file(self, file_id: Hashable) -> None:
        with self._lock:
            self._files.pop(file_id, None)

    def record(self, file_id: Hashable, part_number: int, nbytes: int) -> None:
        """``nbytes`` of part ``part_number`` were sent (ignored for a file no longer tracked)."""
        with self._lock:
            state = self._files.get(file_id)
            if state is None:
                return
            now = self._clock.now()
            state.in_flight[part_number] = state.in_flight.get(part_number, 0) + nbytes
            state.window.add(now, nbytes)
            self._total_window.add(now, nbytes)

    def part_sink(self, file_id: Hashable, part_number: int) -> Callable[[int], None]:
        """A ``callback(nbytes)`` for one part, to hand to a part body."""
        return lambda nbytes: self.record(file_id, part_number, nbytes)

    def rollback_part(self, file_id: Hashable, part_number: int) -> int:
        """Forget the bytes an unfinished part had sent (it will be sent again); returns how many."""
        with self._lock:
            state = self._files.get(file_id)
            return 0 if state is None else state.in_flight.pop(part_number, 0)

    def commit_part(self, file_id: Hashable, part_number: int, size: int) -> None:
        """Part ``part_number`` is stored by S3: it counts exactly ``size`` bytes from now on."""
        with self._lock:
            state = self._files[file_id]
            state.in_flight.pop(part_number, None)
            state.committed = min(state.total, state.committed + size)

    def finish_file(self, file_id: Hashable) -> None:
        with self._lock:
            state = self._files[file_id]
            state.in_flight.clear()
            state.committed = state.total
            state.finished = True

    def file_snapshot(self, file_id: Hashable) -> FileProgress | None:
        with self._lock:
            state = self._files.get(file_id)
            return None if state is None else self._file_progress(file_id, state, self._clock.now())

    def snapshot(self) -> TransferSnapshot:
        with self._lock:
            now = self._clock.now()
            files = tuple(self._file_progress(fid, state, now) for fid, state in self._files.items())
            done = sum(item.done for item in files)
            total = sum(item.total for item in files)
            rate = self._total_window.rate(now)
            return TransferSnapshot(
                taken_at=now, done=done, total=total, rate=rate, eta=_eta(total - done, rate), files=files
            )

    @staticmethod
    def _file_progress(file_id: Hashable, state: _FileState, now: float) -> FileProgress:
        done = min(state.done, state.total)
        rate = 0.0 if state.finished else state.window.rate(now)
        return FileProgress(
            file_id=file_id,
            done=done,
            total=state.total,
            rate=rate,
            eta=_eta(state.total - done, rate),
            finished=state.finished,
        )
