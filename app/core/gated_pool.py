"""A thread pool whose width changes while it runs: every task passes a gate of ``limit`` slots.

The user's "parallel uploads" setting applies live, and a ThreadPoolExecutor can neither shrink nor grow
(short of touching its private fields). So the executor is as wide as the limit may ever be (its threads
start only when work arrives) and a gate in front of the work lets ``limit`` tasks run at once.

Lowering the limit never interrupts a task: the ones running finish, and no new one starts until fewer
than ``limit`` run. Slots are handed to waiting tasks in the order they reached the gate (the order they
were submitted, but for threads overtaking each other by a hair), never grabbed by whoever asks next, so a
file's parts still go out about in order and nothing starves behind later work.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class Gate:
    """A semaphore whose size can change while threads wait on it; first come, first served."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a gate needs at least one slot")
        self._lock = threading.Lock()
        self._limit = limit
        self._inside = 0
        self._waiting: deque[_Turn] = deque()
        self._closed = False

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def inside(self) -> int:
        """How many holders have a slot now (more than ``limit`` for a while after it was lowered)."""
        return self._inside

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def acquire(self) -> bool:
        """Wait for a slot; False if the gate was closed instead (the caller must then not go through)."""
        with self._lock:
            if self._closed:
                return False
            if not self._waiting and self._inside < self._limit:
                self._inside += 1
                return True
            turn = _Turn()
            self._waiting.append(turn)
        # No timeout: a slot is handed over by release() or set_limit(), or close() wakes every waiter.
        turn.event.wait()
        return turn.granted

    def release(self) -> None:
        with self._lock:
            self._inside -= 1
            self._hand_over()

    def set_limit(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a gate needs at least one slot")
        with self._lock:
            self._limit = limit
            self._hand_over()

    def close(self) -> None:
        """Turn every waiter away (they get False), and any later caller too."""
        with self._lock:
            self._closed = True
            waiting, self._waiting = list(self._waiting), deque()
        for turn in waiting:
            turn.event.set()

    def _hand_over(self) -> None:
        # Whoever is handed a slot is counted inside at once: no later arrival can take it first.
        while self._waiting and self._inside < self._limit:
            self._inside += 1
            turn = self._waiting.popleft()
            turn.granted = True
            turn.event.set()


class _Turn:
    """One waiter's place in the queue; ``granted`` tells a handed-over slot from a turn-away."""

    __slots__ = ("event", "granted")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.granted = False


class GatedPool:
    """``submit`` like an executor; at most ``limit`` tasks run at once, and ``set_limit`` changes that live.

    ``most`` is how wide the pool can ever get (how many threads it may start)."""

    def __init__(self, limit: int, *, most: int, thread_name_prefix: str) -> None:
        if not 1 <= limit <= most:
            raise ValueError(f"the limit must be between 1 and {most}")
        self.most = most
        self._gate = Gate(limit)
        self._executor = ThreadPoolExecutor(most, thread_name_prefix=thread_name_prefix)

    @property
    def limit(self) -> int:
        return self._gate.limit

    @property
    def running(self) -> int:
        """Tasks that hold a slot now."""
        return self._gate.inside

    @property
    def waiting(self) -> int:
        """Tasks at the gate, waiting for a slot (tasks not yet picked up by a thread are not counted)."""
        return self._gate.waiting

    def set_limit(self, limit: int) -> None:
        if not 1 <= limit <= self.most:
            raise ValueError(f"the limit must be between 1 and {self.most}")
        self._gate.set_limit(limit)

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return self._executor.submit(self._through_gate, fn, *args, **kwargs)

    def _through_gate(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        if not self._gate.acquire():
            raise CancelledError("the pool was shut down before this task could start")
        try:
            return fn(*args, **kwargs)
        finally:
            self._gate.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Like ThreadPoolExecutor.shutdown; ``cancel_futures`` also turns away the tasks waiting at the gate."""
        if cancel_futures:
            self._gate.close()
        self._executor.shutdown(wait=wait, cancel_futures=cancel_futures)
