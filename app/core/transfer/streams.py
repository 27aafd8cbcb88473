"""Part bodies for presigned PUTs, and the sequential pass that checksums the file.

Checksum choice — Content-MD5, on purpose. The backend contract (API.md) presigns parts with an optional
``content_md5``; S3 and every S3-compatible store (MinIO, R2, Ceph…) verify it and answer 400 BadDigest
on a mismatch, so a byte corrupted in transit is caught server-side and that part alone is retried. CRC32C
(``google-crc32c``/``crc32c`` are on PyPI) is faster, but only newer S3 APIs check
``x-amz-checksum-crc32c`` and it would need its own signed header; MD5 in hashlib runs at several hundred
MB/s per core, well above an upload link, and needs no extra dependency. A single part's S3 ETag is also
its MD5 in hex, a free second check.

Either header must be known *before* the body is sent, so each part is read twice: once by
``FileScanner`` — one thread reading the file sequentially, which yields each part's MD5 in order (the
engine presigns with it) and feeds the whole-file SHA-256 in the same pass, with no second pass and no
buffering of out-of-order parts — and once by ``PartBody`` while sending. The second read usually comes
from the page cache; the body recomputes the MD5 and refuses to send the last block if the file changed
in between, so a changed file is reported as such instead of as a corrupt upload. On resume the scanner
still reads the parts S3 already holds: that completes the SHA-256 and lets the engine compare their MD5
with the journal.

``PartBody`` has ``__len__`` and ``__iter__`` (no ``read``), so requests sends ``Content-Length`` (S3 needs
it; chunked encoding is refused on presigned PUTs) and urllib3 passes our 1 MiB blocks straight to
``sendall`` (in bucket-sized slices under a low bandwidth limit): memory stays at one block per part in
flight, whatever the part size.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from app.core.transfer.control import TransferControl
from app.core.transfer.planning import Part
from app.core.transfer.stall import Activity
from app.core.transfer.throttle import Throttle

log = logging.getLogger(__name__)

BLOCK_SIZE = 1024 * 1024
MIN_PIECE = 16 * 1024


class SourceChangedError(Exception):
    """The file on disk no longer matches what is being uploaded (truncated, rewritten)."""


@dataclass(frozen=True, slots=True)
class PartChecksum:
    """MD5 of one part. ``content_md5`` is the header value; ``str()`` is the journal form."""

    md5: bytes

    @property
    def content_md5(self) -> str:
        return base64.b64encode(self.md5).decode("ascii")

    @property
    def hex(self) -> str:
        return self.md5.hex()

    def matches_etag(self, etag: str) -> bool:
        """True if an S3 part ETag (quoted MD5 hex) is this checksum."""
        return etag.strip().strip('"').lower() == self.hex

    def __str__(self) -> str:
        return "md5:" + self.content_md5

    @classmethod
    def parse(cls, text: str) -> PartChecksum:
        algorithm, _, value = text.partition(":")
        if algorithm != "md5" or not value:
            raise ValueError(f"not a part checksum: {text!r}")
        return cls(base64.b64decode(value))


def _md5() -> hashlib._Hash:
    # MD5 here is an integrity check S3 asks for, not security.
    return hashlib.md5(usedforsecurity=False)


def _read_exact(handle: BinaryIO, path: str, offset: int, size: int) -> bytes:
    block = handle.read(size)
    if len(block) != size:
        raise SourceChangedError(
            f"{path} changed while uploading: expected {size} bytes at offset {offset}, got {len(block)}"
        )
    return block


class FileScanner:
    """One sequential read of the file: each part's MD5, in part order, plus the whole-file SHA-256."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        parts: Sequence[Part],
        *,
        block_size: int = BLOCK_SIZE,
        control: TransferControl | None = None,
    ) -> None:
        self.path = os.fspath(path)
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
                digest = _md5()
                remaining = part.length
                while remaining:
                    if self._control is not None:
                        self._control.raise_if_stopped()
                    offset = part.end - remaining
                    block = _read_exact(handle, self.path, offset, min(self._block_size, remaining))
                    digest.update(block)
                    self._sha256.update(block)
                    remaining -= len(block)
                yield part, PartChecksum(digest.digest())
        self._done = True


def checksum_range(
    path: str | os.PathLike[str], offset: int, length: int, *, block_size: int = BLOCK_SIZE
) -> PartChecksum:
    """MD5 of one byte range (for a single part re-checked outside the sequential scan)."""
    digest, name = _md5(), os.fspath(path)
    with open(name, "rb") as handle:
        handle.seek(offset)
        remaining = length
        while remaining:
            block = _read_exact(handle, name, offset + length - remaining, min(block_size, remaining))
            digest.update(block)
            remaining -= len(block)
    return PartChecksum(digest.digest())


class PartBody:
    """A requests body streaming ``length`` bytes of ``path`` from ``offset``. Single use: build a new
    one for every attempt (and roll back the progress of the failed one)."""

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
        self._started = False
        self.bytes_sent = 0
        self.checksum: PartChecksum | None = None

    @classmethod
    def for_part(cls, path: str | os.PathLike[str], part: Part, **options: object) -> PartBody:
        return cls(path, part.offset, part.length, **options)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        if self._started:
            raise RuntimeError(f"part body of {self.path} at offset {self.offset} was already sent once")
        self._started = True
        return self._blocks()

    def _check_interrupts(self) -> None:
        if self._control is not None:
            self._control.raise_if_stopped()
        if self._activity is not None:
            self._activity.raise_if_stalled()

    def _wait_for_bandwidth(self, nbytes: int) -> None:
        if self._throttle is None:
            return
        stop = None if self._control is None else self._control.stop_event
        if self._activity is not None:
            with self._activity.suspended():
                granted = self._throttle.acquire(nbytes, stop)
        else:
            granted = self._throttle.acquire(nbytes, stop)
        if not granted and self._control is not None:
            self._control.raise_if_stopped()

    def _pieces(self, block: bytes) -> Iterator[bytes]:
        """The block itself, or, under a bandwidth limit whose bucket is smaller than a block, slices
        of about one bucket: a 1 MiB burst then a long silence would look like a stall to S3 and to us."""
        capacity = 0.0 if self._throttle is None else self._throttle.capacity
        if not capacity or capacity >= len(block):
            yield block
            return
        size = max(MIN_PIECE, int(capacity))
        for start in range(0, len(block), size):
            yield block[start : start + size]

    def _blocks(self) -> Iterator[bytes]:
        digest = _md5()
        if self._activity is not None:
            self._activity.touch()
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            remaining = self.length
            while remaining:
                self._check_interrupts()
                offset = self.offset + self.length - remaining
                block = _read_exact(handle, self.path, offset, min(self._block_size, remaining))
                digest.update(block)
                remaining -= len(block)
                if not remaining and self._expected is not None and digest.digest() != self._expected.md5:
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
        self.checksum = PartChecksum(digest.digest())
        if self._activity is not None:
            self._activity.finish()
