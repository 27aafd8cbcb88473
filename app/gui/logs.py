"""Logging for the desktop app: a rotating file in the log folder and an in-memory tail for the Log view.

Records go through a QueueHandler, so the thread that logs (often the main thread) never waits on the
disk; a QueueListener thread writes the file. Secrets are redacted before anything is formatted
(app.core.logsafe). The Log view polls `LogTail.since(n)` on a timer rather than getting a signal per
line, for the same reason the queue does.
"""

from __future__ import annotations

import collections
import logging
import logging.handlers
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

from app.core.logsafe import RedactingFilter

LOG_FILENAME = "reeldrop.log"
MAX_LOG_BYTES = 2 * 1024 * 1024
LOG_BACKUPS = 5
TAIL_LINES = 2000
FILE_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"
VIEW_FORMAT = "%(asctime)s  %(levelname)-7s %(message)s"


class LogTail(logging.Handler):
    """The last few thousand formatted lines, numbered, readable from any thread."""

    def __init__(self, capacity: int = TAIL_LINES) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter(VIEW_FORMAT, "%H:%M:%S"))
        self._lines: collections.deque[tuple[int, int, str]] = collections.deque(maxlen=capacity)
        self._count = 0
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        with self._guard:
            self._count += 1
            self._lines.append((self._count, record.levelno, text))

    @property
    def count(self) -> int:
        with self._guard:
            return self._count

    def since(self, seen: int) -> list[tuple[int, int, str]]:
        """Lines numbered above `seen` that are still held: (number, level, text)."""
        with self._guard:
            return [line for line in self._lines if line[0] > seen]


@dataclass
class AppLogging:
    log_file: Path
    tail: LogTail
    listener: logging.handlers.QueueListener
    handler: logging.Handler

    def stop(self) -> None:
        """Flush and detach (tests and quitting); safe to call twice."""
        root = logging.getLogger()
        if self.handler in root.handlers:
            root.removeHandler(self.handler)
        if self.listener._thread is not None:  # QueueListener has no public "is running"
            self.listener.stop()
        for handler in self.listener.handlers:
            handler.close()


def setup_logging(log_dir: Path, level: int = logging.INFO) -> AppLogging:
    """Send the root logger to `log_dir`/reeldrop.log (rotating) and to an in-memory tail."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / LOG_FILENAME
    file_handler = logging.handlers.RotatingFileHandler(
        log_file, maxBytes=MAX_LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
    )
    file_handler.setFormatter(logging.Formatter(FILE_FORMAT))
    tail = LogTail()
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, file_handler, tail, respect_handler_level=True)
    # Redact on the logging thread, before QueueHandler.prepare() flattens the message into the record.
    handler = logging.handlers.QueueHandler(records)
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(handler)
    listener.start()
    return AppLogging(log_file, tail, listener, handler)
