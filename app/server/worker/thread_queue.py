"""An in-process job queue on a thread pool: the embedded default needs no broker."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

ProcessFn = Callable[[str, threading.Event], None]


class ThreadJobQueue:
    def __init__(self, process: ProcessFn, workers: int = 2) -> None:
        self._process = process
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._cancels: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="reeldrop-job")

    def stop(self) -> None:
        with self._lock:
            for event in self._cancels.values():
                event.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def enqueue(self, job_id: str) -> None:
        if self._pool is None:
            # No worker in this process (--external-workers): the job stays pending for a worker elsewhere.
            log.debug("job %s left pending: no in-process worker", job_id)
            return
        event = threading.Event()
        with self._lock:
            self._cancels[job_id] = event
        self._pool.submit(self._run, job_id, event)

    def cancel(self, job_id: str) -> None:
        with self._lock:
            event = self._cancels.get(job_id)
        if event is not None:
            event.set()

    def _run(self, job_id: str, cancel: threading.Event) -> None:
        try:
            self._process(job_id, cancel)
        except Exception:
            log.exception("job %s crashed in the worker", job_id)
        finally:
            with self._lock:
                self._cancels.pop(job_id, None)
