"""A thread pool whose width changes while it runs: at most ``limit`` tasks run at once, in submission order.

The user's "parallel uploads" setting applies live, and a ThreadPoolExecutor can neither shrink nor grow
(short of touching its private fields). This pool keeps its own workers: never more threads than the
limit (and than the work there is), started as work comes and ended when the limit is lowered. Why not a
wide executor with a semaphore in front: its extra threads each touch the upload's 1 MiB blocks, and glibc
gives every thread a malloc arena of its own that keeps what it freed, so the process grew by megabytes
per thread that ever sent a part (measured: +12 MB for a 400 MB upload at 4 connections).

Lowering the limit never interrupts a task: the ones running finish, and the surplus workers then end.
Tasks start in the order they were submitted (one FIFO queue), so a file's parts go out in order and
nothing starves behind later work.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_Task = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class GatedPool:
    """``submit`` like an executor; at most ``limit`` tasks run at once, and ``set_limit`` changes that live.

    ``most`` is the highest limit this pool accepts."""

    def __init__(self, limit: int, *, most: int, thread_name_prefix: str) -> None:
        if not 1 <= limit <= most:
            raise ValueError(f"the limit must be between 1 and {most}")
        self.most = most
        self._limit = limit
        self._prefix = thread_name_prefix
        self._names = itertools.count(1)
        self._changed = threading.Condition()
        self._queue: deque[_Task] = deque()
        self._workers: set[threading.Thread] = set()
        self._idle = 0
        self._running = 0
        self._closed = False

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def running(self) -> int:
        """Tasks running now (above ``limit`` for a while after it was lowered)."""
        return self._running

    @property
    def waiting(self) -> int:
        """Tasks submitted and not started yet."""
        return len(self._queue)

    def set_limit(self, limit: int) -> None:
        if not 1 <= limit <= self.most:
            raise ValueError(f"the limit must be between 1 and {self.most}")
        with self._changed:
            self._limit = limit
            self._start_workers()
            self._changed.notify_all()  # idle workers above the new limit end; waiting work may start

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        with self._changed:
            if self._closed:
                raise RuntimeError("cannot submit to a pool that was shut down")
            self._queue.append((future, fn, args, kwargs))
            self._start_workers()
            self._changed.notify()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Like ThreadPoolExecutor.shutdown: queued tasks still run unless ``cancel_futures`` (they are then
        cancelled); running ones always finish."""
        with self._changed:
            self._closed = True
            dropped = list(self._queue) if cancel_futures else []
            if cancel_futures:
                self._queue.clear()
            workers = list(self._workers)
            self._changed.notify_all()
        for future, *_ in dropped:
            future.cancel()
        if wait:
            for worker in workers:
                if worker is not threading.current_thread():
                    worker.join()

    # -- workers ----------------------------------------------------------------------------------
    def _start_workers(self) -> None:
        """With the lock held: enough workers for the queued work, never more than the limit."""
        wanted = min(self._limit, self._running + len(self._queue))
        while len(self._workers) < wanted and self._idle < len(self._queue):
            worker = threading.Thread(target=self._work, name=f"{self._prefix}_{next(self._names)}", daemon=True)
            self._workers.add(worker)
            self._idle += 1  # counted idle until it takes a task, so a burst of submits starts no extras
            worker.start()

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            with self._changed:
                while not self._queue and not self._closed and len(self._workers) <= self._limit:
                    self._changed.wait()
                if len(self._workers) > self._limit or not self._queue:
                    # Lowered limit (one surplus worker ends per pass) or shut down with nothing queued.
                    self._workers.discard(me)
                    self._idle -= 1
                    self._changed.notify_all()
                    return
                future, fn, args, kwargs = self._queue.popleft()
                self._idle -= 1
                self._running += 1
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args, **kwargs))
                    except BaseException as error:
                        future.set_exception(error)
            finally:
                with self._changed:
                    self._running -= 1
                    self._idle += 1


__all__ = ["CancelledError", "GatedPool"]
