"""The only way a worker thread reaches the GUI thread: a plain queue, and one byte on a socket to wake it.

Workers call `post(callback, value)`, which touches no Qt object: it puts the pair on a
`queue.SimpleQueue` and, when the GUI thread is not already due to look, writes one byte to a socket pair.
A `QSocketNotifier` (created and owned by the GUI thread) sees the byte and drains the queue there,
running each callback in the order posted. This is Anki's pattern (workers hand plain results to
`run_on_main`), without Anki's queued signal: emitting a Qt signal from a thread Python started is what
crashed the app (issue 12, `Fatal Python error: bool_dealloc` in `Bridge.call_soon`).

Why a socket and not a QTimer polling the queue: an answer arrives within one event-loop turn instead of
up to a timer period later, and an idle app does not wake up every few milliseconds for nothing.
A socket pair rather than os.pipe or eventfd: QSocketNotifier watches sockets on Windows too.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier

log = logging.getLogger(__name__)

Callback = Callable[[Any], None]
# How many posted callbacks one wake-up runs before it lets the event loop paint and take input; the rest
# wait for the next turn (the notifier fires again because a byte is written for them).
DRAIN_BATCH = 200


class MainThreadInbox(QObject):
    """Runs `callback(value)` pairs posted from any thread on the thread that created it (the GUI thread)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue: queue.SimpleQueue[tuple[Callback, Any]] = queue.SimpleQueue()
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        # Set when a byte is on its way: a burst of posts writes one byte, not one each.
        self._wake_lock = threading.Lock()
        self._wake_pending = False
        self._closed = False
        self._notifier = QSocketNotifier(self._reader.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)

    @property
    def closed(self) -> bool:
        return self._closed

    def post(self, callback: Callback, value: Any = None) -> None:
        """From any thread: run `callback(value)` on the GUI thread soon. Touches no Qt object. After
        close() the pair is dropped (whoever closed has cleaned up)."""
        if self._closed:
            return
        self._queue.put((callback, value))
        with self._wake_lock:
            if self._wake_pending or self._closed:
                return
            self._wake_pending = True
        with contextlib.suppress(BlockingIOError, OSError):  # full means a wake-up is already waiting
            self._writer.send(b"\0")

    def run_pending(self) -> int:
        """On the GUI thread: run what is queued now (at most DRAIN_BATCH); returns how many ran."""
        return self._drain()

    def _drain(self, *_notifier_args: object) -> int:
        # Empty the socket first, then clear the flag: the other way round, a byte written between the two
        # would be read here while the flag stayed set, and no post would ever wake this thread again.
        with contextlib.suppress(BlockingIOError, OSError):
            while self._reader.recv(4096):
                pass
        with self._wake_lock:
            self._wake_pending = False
        ran = 0
        while ran < DRAIN_BATCH and not self._closed:
            try:
                callback, value = self._queue.get_nowait()
            except queue.Empty:
                return ran
            ran += 1
            try:
                callback(value)
            except Exception:
                # The same path as an exception in any Qt slot: the app's excepthook logs it and tells the
                # user; the rest of the queue still runs.
                sys.excepthook(*sys.exc_info())
        if not self._queue.empty() and not self._closed:
            self._wake()  # more than one batch: come back after the event loop has had a turn
        return ran

    def _wake(self) -> None:
        with self._wake_lock:
            if self._wake_pending:
                return
            self._wake_pending = True
        with contextlib.suppress(BlockingIOError, OSError):
            self._writer.send(b"\0")

    def close(self) -> None:
        """On the GUI thread: stop running callbacks; posts from now on are dropped. Idempotent.

        The notifier is switched off and deleted here, on the GUI thread, before its socket closes: left to
        the garbage collector, the notifier could die on a worker thread (which Qt cannot unregister from
        the GUI thread's event dispatcher) and the closed socket would make the dispatcher call into it
        after it was freed (a segfault in QSocketNotifier::setEnabled, seen in the GUI tests)."""
        with self._wake_lock:
            if self._closed:
                return
            self._closed = True
        self._notifier.setEnabled(False)
        self._notifier.activated.disconnect(self._drain)
        self._notifier.deleteLater()  # not at once: close() may run inside the notifier's own activation
        with contextlib.suppress(queue.Empty):
            while True:  # drop what was queued so the callbacks (and what they hold) are freed here
                self._queue.get_nowait()
        self._reader.close()
        self._writer.close()
