"""Part bodies for presigned PUTs, and the sequential pass that checksums the file.

Checksums (see checksums.py): CRC32C by default, Content-MD5 for uploads created without an algorithm.
Either header is signed into the presigned URL, so it must be known *before* the body is sent, and each
part is read twice: once by ``FileScanner`` — one thread reading the file sequentially, which yields each
part's checksum in order (the engine presigns with it) and feeds the whole-file SHA-256 in the same pass,
with no second pass and no buffering of out-of-order parts — and once by ``PartBody`` while sending. The
second read usually comes from the page cache (the engine keeps the scanner at most a few parts ahead of
the senders); the body recomputes the checksum and refuses to send the last block if the file changed in
between, so a changed file is reported as such instead of as a corrupt upload (S3 would answer BadDigest,
which looks like a network fault). On resume the scanner still reads the parts S3 already holds: that
completes the SHA-256 and lets the engine compare their checksums with the journal.

``PartBody`` has ``__len__`` and ``__iter__`` (no ``read``), so requests sends ``Content-Length`` (S3 needs
it; chunked encoding is refused on presigned PUTs) and urllib3 passes our 1 MiB blocks straight to
``sendall`` (in bucket-sized slices under a low bandwidth limit): memory stays at one block per part in
flight, whatever the part size.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, BinaryIO

from app.core.transfer.checksums import ChecksumAlgorithm, PartChecksum, finish, new_checksum
from app.core.transfer.control import TransferControl
from app.core.transfer.planning import Part
from app.core.transfer.stall import Activity
from app.core.transfer.throttle import Throttle

__all__ = [
    "BLOCK_SIZE",
    "ChecksumAlgorithm",
    "FileScanner",
    "PartBody",
    "PartChecksum",
    "SourceChangedError",
    "checksum_range",
    "read_exact",
]

log = logging.getLogger(__name__)

BLOCK_SIZE = 1024 * 1024
MIN_PIECE = 16 * 1024
MAX_PIECE = 256 * 1024


class SourceChangedError(Exception):
    """The file on disk no longer matches what is being uploaded (truncated, rewritten)."""


def read_exact(handle: BinaryIO, path: str, offset: int, size: int) -> bytes:
    block = handle.read(size)
    if len(block) != size:
        raise SourceChangedError(
            f"{path} changed while uploading: expected {size} bytes at offset {offset}, got {len(block)}"
        )
    return block


class FileScanner:
    """One sequential read of the file: each part's checksum, in part order, plus the whole-file SHA-256."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        parts: Sequence[Part],
        *,
        block_size: int = BLOCK_SIZE,
        control: TransferControl | None = None,
        algorithm: ChecksumAlgorithm | str = ChecksumAlgorithm.CRC32C,
    ) -> None:
        self.path = os.fspath(path)
        self.algorithm = ChecksumAlgorithm(algorithm)
        self._parts = tuple(parts)
        self._block_size = block_size
        self._control = control
        self._sha256 = hashlib.sha256()
        self._done = False
        expected_offset = 0
        for part in self._parts:
            if part.offset != expected_offset:
                raise ValueError(f"parts of {self.path} must follow each other from 0 (part {part.number})")
            expected_offset = part.end
        self.size = expected_offset

    @property
    def sha256_hex(self) -> str:
        if not self._done:
            raise RuntimeError(f"the SHA-256 of {self.path} is known only after the whole file was scanned")
        return self._sha256.hexdigest()

    def __iter__(self) -> Iterator[tuple[Part, PartChecksum]]:
        with open(self.path, "rb") as handle:
            actual = os.fstat(handle.fileno()).st_size
            if actual != self.size:
                raise SourceChangedError(f"{self.path} is {actual} bytes now, {self.size} were planned")
            for part in self._parts:
                digest = new_checksum(self.algorithm)
                remaining = part.length
                while remaining:
                    if self._control is not None:
                        self._control.raise_if_stopped()
                    offset = part.end - remaining
                    block = read_exact(handle, self.path, offset, min(self._block_size, remaining))
                    digest.update(block)
                    self._sha256.update(block)
                    remaining -= len(block)
                yield part, finish(digest, self.algorithm)
        self._done = True


def checksum_range(
    path: str | os.PathLike[str],
    offset: int,
    length: int,
    *,
    block_size: int = BLOCK_SIZE,
    algorithm: ChecksumAlgorithm | str = ChecksumAlgorithm.CRC32C,
) -> PartChecksum:
    """The checksum of one byte range (for a single part re-checked outside the sequential scan)."""
    digest, name = new_checksum(algorithm), os.fspath(path)
    with open(name, "rb") as handle:
        handle.seek(offset)
        remaining = length
        while remaining:
            block = read_exact(handle, name, offset + length - remaining, min(block_size, remaining))
            digest.update(block)
            remaining -= len(block)
    return finish(digest, algorithm)


class PartBody:
    """A requests body streaming ``length`` bytes of ``path`` from ``offset``. Single use: build a new
    one for every attempt (and roll back the progress of the failed one).

    The body checksums what it sends with ``expected``'s algorithm (else ``algorithm``); ``also_hash`` (any
    object with ``update``, e.g. a hashlib SHA-256) is fed every block too, for a whole-file hash taken
    while sending (the presigned POST path has no separate scan)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        offset: int,
        length: int,
        *,
        block_size: int = BLOCK_SIZE,
        throttle: Throttle | None = None,
        on_bytes: Callable[[int], None] | None = None,
        control: TransferControl | None = None,
        activity: Activity | None = None,
        expected: PartChecksum | None = None,
        algorithm: ChecksumAlgorithm | str = ChecksumAlgorithm.CRC32C,
        also_hash: Any | None = None,
    ) -> None:
        if offset < 0 or length < 0 or block_size <= 0:
            raise ValueError("offset and length must not be negative; block_size must be positive")
        self.path = os.fspath(path)
        self.offset = offset
        self.length = length
        self._block_size = block_size
        self._throttle = throttle
        self._on_bytes = on_bytes
        self._control = control
        self._activity = activity
        self._expected = expected
        self.algorithm = expected.algorithm if expected is not None else ChecksumAlgorithm(algorithm)
        self._also_hash = also_hash
        self._started = False
        self.bytes_sent = 0
        self.checksum: PartChecksum | None = None

    @classmethod
    def for_part(cls, path: str | os.PathLike[str], part: Part, **options: object) -> PartBody:
        return cls(path, part.offset, part.length, **options)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes | memoryview]:
        if self._started:
            raise RuntimeError(f"part body of {self.path} at offset {self.offset} was already sent once")
        self._started = True
        return self._blocks()

    def _readable(self, offset: int, wanted: int) -> int:
        """How many bytes to read at ``offset`` now (a body for a file still being written waits here)."""
        return wanted

    def _check_interrupts(self) -> None:
        if self._control is not None:
            self._control.raise_if_stopped()
        if self._activity is not None:
            self._activity.raise_if_stalled()

    def _waiting_on_purpose(self) -> AbstractContextManager[None]:
        """Around a wait that is not a stall (the bandwidth limit, a writer still writing the part)."""
        return self._activity.suspended() if self._activity is not None else nullcontext()

    def _wait_for_bandwidth(self, nbytes: int) -> None:
        if self._throttle is None:
            return
        stop = None if self._control is None else self._control.stop_event
        with self._waiting_on_purpose():
            granted = self._throttle.acquire(nbytes, stop)
        if not granted and self._control is not None:
            self._control.raise_if_stopped()

    def _pieces(self, block: bytes) -> Iterator[bytes | memoryview]:
        """Slices of at most MAX_PIECE (or, under a bandwidth limit whose bucket is smaller, about one
        bucket), as memoryviews: no copies. Why slices: Python's ``sendall`` timeout (the stall guard)
        bounds the *whole* call, so one 1 MiB send on a link giving this connection 30 KB/s (a 1 Mbit/s
        uplink shared by 4 connections) would time out though bytes were moving; and under a low limit
        a 1 MiB burst then a long silence would look like a stall to S3 and to us."""
        capacity = 0.0 if self._throttle is None else self._throttle.capacity
        size = MAX_PIECE if not capacity else max(MIN_PIECE, min(int(capacity), MAX_PIECE))
        if size >= len(block):
            yield block
            return
        view = memoryview(block)
        for start in range(0, len(block), size):
            yield view[start : start + size]

    def _blocks(self) -> Iterator[bytes | memoryview]:
        digest = new_checksum(self.algorithm)
        if self._activity is not None:
            self._activity.touch()
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            remaining = self.length
            while remaining:
                self._check_interrupts()
                offset = self.offset + self.length - remaining
                wanted = self._readable(offset, min(self._block_size, remaining))
                block = read_exact(handle, self.path, offset, wanted)
                digest.update(block)
                if self._also_hash is not None:
                    self._also_hash.update(block)
                remaining -= len(block)
                if not remaining and self._expected is not None and digest.digest() != self._expected.digest:
                    # Checked before the last block leaves: S3 would answer BadDigest, which looks like
                    # a network fault and would be retried in vain.
                    raise SourceChangedError(
                        f"{self.path} changed while uploading: the {self.length} bytes at offset"
                        f" {self.offset} differ from when they were checksummed"
                    )
                for piece in self._pieces(block):
                    self._wait_for_bandwidth(len(piece))
                    self._check_interrupts()
                    yield piece
                    # urllib3 asks for the next piece only after sendall() returned: this one is sent.
                    self.bytes_sent += len(piece)
                    if self._on_bytes is not None:
                        self._on_bytes(len(piece))
                    if self._activity is not None:
                        self._activity.touch()
        self.checksum = finish(digest, self.algorithm)
        if self._activity is not None:
            self._activity.finish()
