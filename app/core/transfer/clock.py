"""The clock the throttle and the progress tracker read, swappable in tests.

``wait`` is part of the clock because a fake clock must advance its own time instead of blocking; the real
clock waits on the given Condition, so a ``notify_all`` (a rate change, say) still wakes the waiter early.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    def wait(self, condition: threading.Condition, timeout: float) -> None:
        """Wait up to ``timeout`` s on ``condition`` (held by the caller)."""
        ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    def wait(self, condition: threading.Condition, timeout: float) -> None:
        condition.wait(timeout)


SYSTEM_CLOCK = MonotonicClock()
