"""Stall detection: a part whose bytes stop moving for ``timeout`` seconds is flagged and retried.

Each part body owns an ``Activity`` and touches it after every block handed to the socket. A watchdog
thread (waking on an Event every ``poll_interval``, never spinning) flags activities that went quiet and
calls ``on_stall(key)``; the body raises StallDetected at its next block. Time spent waiting on purpose
(the bandwidth limit) is excluded with ``Activity.suspended()``, and a body that has sent everything stops
being watched: waiting for S3's answer is the HTTP read timeout's job.

A send blocked inside the kernel never reaches "the next block". That case is bounded by requests itself:
urllib3 2 uses the *connect* timeout as the socket timeout while it sends the body, so
``timeout=(stall_seconds, read_seconds)`` turns a dead link into a ConnectionError (retryable) within
``stall_seconds`` per block (tests/core/transfer/test_part_bodies.py pins this). ``session.close()`` from
another thread does not interrupt such a send, so ``on_stall`` is for logging and bookkeeping, not for
breaking sockets. Keep both timeouts well above ``block_size / slowest expected link``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

from app.core.transfer.clock import SYSTEM_CLOCK, Clock
from app.core.transfer.retry import RetryableTransferError

log = logging.getLogger(__name__)


class StallDetected(RetryableTransferError):
    """No bytes moved for longer than the stall timeout."""


class Activity:
    """Last-progress time of one transfer; thread-safe."""

    def __init__(self, key: Hashable, clock: Clock) -> None:
        self.key = key
        self._clock = clock
        self._lock = threading.Lock()
        self._last = clock.now()
        self._suspended = 0
        self._finished = False
        self._stalled = threading.Event()

    def touch(self) -> None:
        with self._lock:
            self._last = self._clock.now()

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """Waiting on purpose inside this block (e.g. for the throttle) is not a stall."""
        with self._lock:
            self._suspended += 1
        try:
            yield
        finally:
            with self._lock:
                self._suspended -= 1
                self._last = self._clock.now()

    def finish(self) -> None:
        with self._lock:
            self._finished = True

    @property
    def stalled(self) -> bool:
        return self._stalled.is_set()

    def raise_if_stalled(self, timeout: float | None = None) -> None:
        if self._stalled.is_set():
            after = "" if timeout is None else f" for {timeout:g} s"
            raise StallDetected(f"no data moved{after}; the connection stalled")

    def _idle_for(self, now: float) -> float | None:
        """Seconds since the last progress, or None while suspended/finished/already flagged."""
        with self._lock:
            if self._suspended or self._finished or self._stalled.is_set():
                return None
            return now - self._last

    def _flag(self) -> None:
        self._stalled.set()


class StallWatchdog:
    """Watches activities; ``start()``/``stop()`` or use as a context manager."""

    def __init__(
        self,
        timeout: float,
        *,
        on_stall: Callable[[Hashable], None] | None = None,
        poll_interval: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if timeout <= 0:
            raise ValueError("stall timeout must be positive")
        self.timeout = timeout
        self._on_stall = on_stall
        self._poll = poll_interval if poll_interval is not None else min(1.0, timeout / 4)
        self._clock = clock
        self._lock = threading.Lock()
        self._activities: set[Activity] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, key: Hashable) -> Activity:
        activity = Activity(key, self._clock)
        with self._lock:
            self._activities.add(activity)
        return activity

    def unwatch(self, activity: Activity) -> None:
        with self._lock:
            self._activities.discard(activity)

    @contextmanager
    def watching(self, key: Hashable) -> Iterator[Activity]:
        activity = self.watch(key)
        try:
            yield activity
        finally:
            self.unwatch(activity)

    def check(self) -> list[Hashable]:
        """Flag every activity idle for longer than the timeout; returns their keys (newly flagged)."""
        now = self._clock.now()
        with self._lock:
            activities = list(self._activities)
        stalled = []
        for activity in activities:
            idle = activity._idle_for(now)
            if idle is not None and idle > self.timeout:
                activity._flag()
                stalled.append(activity.key)
        for key in stalled:
            log.warning("transfer %s stalled: no data moved for %.0f s", key, self.timeout)
            if self._on_stall is not None:
                try:
                    self._on_stall(key)
                except Exception:
                    log.exception("stall handler failed for %s", key)
        return stalled

    def start(self) -> StallWatchdog:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="stall-watchdog", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> StallWatchdog:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            self.check()
