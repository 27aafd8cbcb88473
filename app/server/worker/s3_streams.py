"""Streams between S3 and the results ZIP, in bounded memory.

``Prefetcher`` reads the next few objects concurrently (the Lambda batch API's concurrent S3 downloads), each into a
small bounded queue of chunks, so that the ZIP writer never waits on one GET at a time and memory stays
at ``window x depth x chunk`` whatever the object sizes. ``HashingReader`` turns a byte iterator into a
file object for boto3's ``upload_fileobj`` (multipart), counting size and SHA-256 on the way through.
"""

from __future__ import annotations

import hashlib
import io
import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..storage import ObjectStore

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
_END = object()
_PUT_POLL_S = 0.5


class SourceReadError(Exception):
    """An object could not be read completely while it was being zipped."""


@dataclass(frozen=True)
class FetchSpec:
    key: str
    size: int


class Prefetcher:
    """Yields the objects' bytes in order while up to ``window`` of them download in parallel."""

    def __init__(
        self, store: ObjectStore, specs: list[FetchSpec], window: int = 4, depth: int = 4, chunk: int = CHUNK
    ) -> None:
        self.store = store
        self.specs = specs
        self.window = max(1, window)
        self.depth = max(1, depth)
        self.chunk = chunk
        self._queues: dict[int, queue.Queue[object]] = {}
        self._submitted = 0
        self._closed = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=self.window, thread_name_prefix="reeldrop-zip-fetch")
        self._buffered = 0
        self.peak_buffered_bytes = 0
        self._lock = threading.Lock()

    def stream(self, index: int) -> Iterator[bytes]:
        """The bytes of object ``index``; call in order 0, 1, 2... (the ZIP writes entries in order)."""
        self._submit_up_to(index + self.window)
        chunks = self._queues[index]
        while True:
            item = chunks.get()
            if item is _END:
                break
            if isinstance(item, BaseException):
                raise SourceReadError(f"{self.specs[index].key}: {type(item).__name__}: {item}") from item
            assert isinstance(item, bytes)
            self._account(-len(item))
            yield item
        self._queues.pop(index, None)

    def close(self) -> None:
        self._closed.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _submit_up_to(self, limit: int) -> None:
        while self._submitted < min(limit, len(self.specs)):
            index = self._submitted
            self._queues[index] = queue.Queue(maxsize=self.depth)
            self._pool.submit(self._fetch, index)
            self._submitted += 1

    def _account(self, delta: int) -> None:
        with self._lock:
            self._buffered += delta
            self.peak_buffered_bytes = max(self.peak_buffered_bytes, self._buffered)

    def _put(self, chunks: queue.Queue[object], item: object) -> bool:
        while not self._closed.is_set():
            try:
                chunks.put(item, timeout=_PUT_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _fetch(self, index: int) -> None:
        spec, chunks = self.specs[index], self._queues[index]
        try:
            body = self.store.open_stream(spec.key)["Body"]
            read = 0
            try:
                for block in body.iter_chunks(self.chunk):
                    self._account(len(block))
                    if not self._put(chunks, block):
                        return
                    read += len(block)
            finally:
                body.close()
            if read != spec.size:
                raise SourceReadError(f"read {read} of {spec.size} bytes")
            self._put(chunks, _END)
        except Exception as exc:  # handed to the reader, which fails the ZIP (and the build is retried)
            log.warning("results ZIP: reading %s failed: %s", spec.key, type(exc).__name__)
            self._put(chunks, exc)


class HashingReader(io.RawIOBase):
    """A read-only, non-seekable file over an iterator of bytes; tracks ``size`` and ``sha256``."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")
        self._digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            try:
                block = next(self._chunks)
            except StopIteration:
                return 0
            self._pending = memoryview(block)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._digest.update(self._pending[:n])
        self._pending = self._pending[n:]
        self.size += n
        return n

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()
