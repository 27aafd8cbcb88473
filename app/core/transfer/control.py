"""A cancel/pause token shared by the engine, the part bodies and the throttle.

Pausing in the middle of a part cannot simply stop sending: S3 drops a request whose body goes quiet. So a
pause interrupts the part in flight (its bytes are rolled back) and the part is sent again on resume.
``stop_event`` is set while the transfer is paused *or* cancelled, so code that only needs to know
"stop what you are doing" waits on a single Event.
"""

from __future__ import annotations

import threading


class TransferInterrupted(Exception):
    """Base class: the work was stopped on purpose, not by a failure."""


class TransferCancelled(TransferInterrupted):
    """The user cancelled the transfer."""


class TransferPaused(TransferInterrupted):
    """The user paused the transfer; the interrupted part must be sent again after resume."""


class TransferControl:
    """Thread-safe cancel/pause token. Cancel is final; pause can be undone with ``resume``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.stop_event = threading.Event()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled.set()
            self.stop_event.set()
            # Wake anyone parked in wait_until_resumed so they notice the cancel.
            self._running.set()

    def pause(self) -> None:
        with self._lock:
            if self._cancelled.is_set():
                return
            self._running.clear()
            self.stop_event.set()

    def resume(self) -> None:
        with self._lock:
            self._running.set()
            if not self._cancelled.is_set():
                self.stop_event.clear()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def raise_if_stopped(self) -> None:
        """Raise TransferCancelled or TransferPaused if the transfer should stop now."""
        if self._cancelled.is_set():
            raise TransferCancelled("transfer cancelled")
        if not self._running.is_set():
            raise TransferPaused("transfer paused")

    def wait_until_resumed(self, timeout: float | None = None) -> bool:
        """Block while paused (at most ``timeout`` s); True if the transfer may run again (not cancelled)."""
        self._running.wait(timeout)
        return self._running.is_set() and not self._cancelled.is_set()

    def wait_cancelled(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` s, returning early (True) if cancelled; used for backoff sleeps."""
        return self._cancelled.wait(timeout)
