"""Measures how long the event loop was ever unable to run: a precise timer that should fire every few
milliseconds; any extra delay between two firings is a stall the user would have felt as a frozen window.

Used by the tests (the figure is reported, not asserted) and by `REELDROP_STALL_PROBE=1` in development,
which logs the longest stall when the app quits.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer


class StallProbe(QObject):
    def __init__(self, interval_ms: int = 5, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval = interval_ms / 1000
        self.gaps: list[float] = []  # seconds of lateness per firing
        self.times: list[float] = []  # time.perf_counter() of each firing, to place a stall in time
        # CPU the main thread itself used between two firings: a stall with little of it was spent waiting
        # (for the GIL, a lock, I/O), one with a lot was spent working (painting, Python on this thread).
        self.cpu: list[float] = []
        self._last_cpu = 0.0
        self._last: float | None = None
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> StallProbe:
        self.gaps.clear()
        self.times.clear()
        self.cpu.clear()
        self._last = None
        self._timer.start()
        return self

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        if self._last is not None:
            self.gaps.append(max(0.0, now - self._last - self.interval))
            self.times.append(now)
            self.cpu.append(cpu - self._last_cpu)
        self._last, self._last_cpu = now, cpu

    def stalls(self, over_ms: float) -> list[tuple[float, float, float]]:
        """(perf_counter time the loop ran again, stall in ms, main-thread CPU ms in it) of every stall
        longer than ``over_ms``."""
        found = zip(self.times, self.gaps, self.cpu, strict=True)
        return [(at, gap * 1000, cpu * 1000) for at, gap, cpu in found if gap * 1000 > over_ms]

    @property
    def longest_ms(self) -> float:
        return max(self.gaps, default=0.0) * 1000

    def percentile_ms(self, fraction: float) -> float:
        if not self.gaps:
            return 0.0
        ordered = sorted(self.gaps)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    def summary(self) -> str:
        return (
            f"longest event-loop stall {self.longest_ms:.1f} ms, 99th percentile {self.percentile_ms(0.99):.1f} ms "
            f"over {len(self.gaps)} timer ticks"
        )
