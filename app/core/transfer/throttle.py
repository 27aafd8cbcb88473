"""One bandwidth limit shared by every upload thread (a token bucket).

Why a bucket "in debt": part bodies ask for tokens a block (1 MiB) at a time, often more than a small
bucket holds. A request waits only until the bucket holds ``min(nbytes, capacity)`` tokens, then takes all
``nbytes``, which may drive the balance negative; the next caller waits for the debt to be repaid. So the
long-run rate is exact, a burst never exceeds one bucket plus one block, and large blocks never starve.

Waits are Condition waits, never spins: a rate change wakes every waiter at once, and each wait is also
capped at ``MAX_WAIT_SLICE`` so a stop Event (cancel/pause) is noticed promptly.
"""

from __future__ import annotations

import logging
import threading

from app.core.transfer.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)

MAX_WAIT_SLICE = 0.25


class Throttle:
    """Thread-safe global rate limit in bytes per second; ``None`` (or 0) means unlimited."""

    def __init__(self, rate: float | None = None, *, burst_seconds: float = 0.25, clock: Clock = SYSTEM_CLOCK) -> None:
        if burst_seconds <= 0:
            raise ValueError("burst_seconds must be positive")
        self._clock = clock
        self._burst_seconds = burst_seconds
        self._cond = threading.Condition()
        self._rate: float | None = None
        self._tokens = 0.0
        self._last = clock.now()
        self.granted_bytes = 0
        self.waited_seconds = 0.0
        self.set_rate(rate)

    @property
    def rate(self) -> float | None:
        with self._cond:
            return self._rate

    @property
    def capacity(self) -> float:
        """Bucket size in bytes at the current rate (0 when unlimited)."""
        with self._cond:
            return self._capacity()

    def _capacity(self) -> float:
        return 0.0 if self._rate is None else max(self._rate * self._burst_seconds, 1.0)

    def _refill(self, now: float) -> None:
        if self._rate is not None:
            self._tokens = min(self._capacity(), self._tokens + (now - self._last) * self._rate)
        self._last = now

    def set_rate(self, rate: float | None) -> None:
        """Change the limit while transfers run; ``None`` or 0 lifts it. Wakes all waiting threads."""
        if rate is not None and rate < 0:
            raise ValueError(f"rate must be positive or None, got {rate}")
        new_rate = float(rate) if rate else None
        with self._cond:
            now = self._clock.now()
            self._refill(now)  # tokens earned so far are earned at the old rate
            if self._rate is None and new_rate is not None:
                # Coming back from unlimited: start empty so the new limit holds from the first byte.
                self._tokens = 0.0
            self._rate = new_rate
            if new_rate is not None:
                self._tokens = min(self._tokens, self._capacity())
            self._cond.notify_all()
        log.debug("bandwidth limit set to %s", "unlimited" if new_rate is None else f"{new_rate:.0f} B/s")

    def acquire(self, nbytes: int, stop: threading.Event | None = None) -> bool:
        """Block until ``nbytes`` may be sent. False (nothing taken) if ``stop`` was set first."""
        if nbytes < 0:
            raise ValueError("nbytes must not be negative")
        with self._cond:
            while True:
                if stop is not None and stop.is_set():
                    return False
                if self._rate is None:
                    self.granted_bytes += nbytes
                    return True
                now = self._clock.now()
                self._refill(now)
                need = min(float(nbytes), self._capacity())
                if self._tokens >= need:
                    self._tokens -= nbytes
                    self.granted_bytes += nbytes
                    return True
                timeout = min((need - self._tokens) / self._rate, MAX_WAIT_SLICE)
                self._clock.wait(self._cond, timeout)
                self.waited_seconds += self._clock.now() - now

    def wake_all(self) -> None:
        """Make waiting threads re-check their stop Events now (e.g. right after a cancel)."""
        with self._cond:
            self._cond.notify_all()
