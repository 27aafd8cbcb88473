"""A chore run at start-up and then every few seconds in a daemon thread (the temp and stale-job sweeps)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class PeriodicThread:
    """Runs ``action`` now and then every ``interval_s`` seconds until ``stop()``; a failure waits a round."""

    def __init__(self, name: str, interval_s: float, action: Callable[[], Any], what: str) -> None:
        self.name = name
        self.interval_s = interval_s
        self.action = action
        self.what = what
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.action()
            except Exception:  # a store or database outage must not end the chore for good
                log.warning("%s failed; trying again in %s s", self.what, self.interval_s, exc_info=True)
            self._stop.wait(self.interval_s)
