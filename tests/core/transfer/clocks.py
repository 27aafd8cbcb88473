"""A manual clock for the throttle, the progress tracker and the stall watchdog (single-threaded tests)."""

from __future__ import annotations

import threading


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.time = start
        self.waits: list[float] = []

    def now(self) -> float:
        return self.time

    def wait(self, condition: threading.Condition, timeout: float) -> None:
        # Instead of blocking, let the requested time pass.
        self.waits.append(timeout)
        self.time += timeout

    def advance(self, seconds: float) -> None:
        self.time += seconds
