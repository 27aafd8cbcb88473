"""What every file's upload shares: the backend, the journal, one S3 session, one connection budget
(a gated thread pool), one bandwidth limit, one progress tracker, one stall watchdog, one retry policy."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from app.core.api import BackendClient
from app.core.gated_pool import GatedPool
from app.core.logsafe import redact
from app.core.transfer.checksums import ChecksumAlgorithm
from app.core.transfer.growing import GrowingFile
from app.core.transfer.handle import UploadHandle
from app.core.transfer.journal import Journal
from app.core.transfer.progress import TransferTracker
from app.core.transfer.retry import BackoffPolicy
from app.core.transfer.stall import StallWatchdog
from app.core.transfer.throttle import Throttle
from app.core.transfer.transport import S3Transport


@dataclass
class EngineContext:
    client: BackendClient
    journal: Journal
    backend_id: str
    transport: S3Transport
    throttle: Throttle
    progress: TransferTracker
    watchdog: StallWatchdog
    policy: BackoffPolicy
    parts_pool: GatedPool  # its limit is the global budget of concurrent connections
    concurrency: int  # that limit, read by each file to size its window of signed parts
    part_size: int | None
    checksum_algorithm: ChecksumAlgorithm
    stopping: threading.Event = field(default_factory=threading.Event)
    sleep: Callable[[float], None] | None = None
    rng: Callable[[float, float], float] = random.uniform


class WireCounter:
    """Bytes one file put on the wire, retries included (the result's ``bytes_sent``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self, nbytes: int) -> None:
        with self._lock:
            self.value += nbytes


@dataclass
class FileInFlight:
    """One file in flight: the caller's handle plus what the runners share about it."""

    handle: UploadHandle
    content_type: str | None
    wire: WireCounter = field(default_factory=WireCounter)
    growing: GrowingFile | None = None
    """Set when the file is still being written (compress-while-upload); ``upper_bound`` caps its size."""
    upper_bound: int = 0

    @property
    def path(self) -> str:
        return str(self.handle.path)

    @property
    def name(self) -> str:
        return self.handle.path.name


def plain(error: BaseException) -> str:
    """An exception as one line for a user, with any URL query or token removed."""
    text = str(error) or type(error).__name__
    return redact(" ".join(text.split()))
