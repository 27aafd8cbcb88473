"""A file another process is still writing front to back, and the scan that cuts it into parts as it grows.

Compress-while-upload: ffmpeg writes a fragmented MP4 (no index rewritten at the end), and the uploader
sends part k as soon as the file has grown past the end of part k. The writer's owner says when the file
is finished (``GrowingFile.finish``); only then is the last, shorter part known.

Nothing here trusts that the writer never goes back: ``GrowingScanner`` remembers the checksum of every
part it read while the file was still growing, and ``changed_parts`` reads those ranges again from the
finished file. A part whose bytes changed is sent again (the upload code does that), so even a muxer that
seeks back to patch a header ends as a correct upload, only a little later.
"""

from __future__ import annotations

import enum
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

from app.core.transfer.checksums import ChecksumAlgorithm, PartChecksum, finish, new_checksum
from app.core.transfer.part_bodies import BLOCK_SIZE, PartBody, SourceChangedError, checksum_range, read_exact
from app.core.transfer.planning import Part

DEFAULT_POLL = 0.1
# How often a body waiting for the writer looks at pause, cancel and stall flags.
BODY_WAIT_SLICE = 0.5


class WriterStopped(enum.StrEnum):
    """Why a writer stopped before finishing its file: the upload that follows it ends accordingly."""

    FAILED = "failed"  # the writer failed: the upload fails too (and is aborted on the server)
    CANCELLED = "cancelled"  # the user cancelled: the upload is cancelled, quietly
    INTERRUPTED = "interrupted"  # the app is quitting: the writer starts over next time, so does the upload


class GrowingFileAbandoned(Exception):
    """The writer stopped without finishing the file: there is nothing to upload. ``why`` says how."""

    def __init__(self, message: str, why: WriterStopped) -> None:
        super().__init__(message)
        self.why = why


class GrowingFileTooLarge(Exception):
    """The file grew past the upper bound the upload was declared with."""


class PartCutShort(Exception):
    """The writer finished the file inside a part that was being sent as it was written: the request
    declared the whole part's length, so it is dropped and the (last, shorter) part goes again."""


class GrowingFile:
    """The reader's view of a file being written: how far it is safe to read, and whether it is finished.

    The writer's owner calls ``finish()`` once the writer exited successfully (the size is then final) or
    ``abandon(why)`` if it did not; readers wait in ``wait_for`` (bounded by their timeout). A writer that is
    only paused (a suspended ffmpeg) is neither: readers keep waiting, however long the pause.
    """

    def __init__(self, path: str | os.PathLike[str], *, poll: float = DEFAULT_POLL) -> None:
        self.path = os.fspath(path)
        self._poll = poll
        self._ended = threading.Event()
        self._final_size: int | None = None
        self._abandoned: WriterStopped | None = None

    def finish(self) -> None:
        self._final_size = os.stat(self.path).st_size
        self._ended.set()

    def abandon(self, why: WriterStopped = WriterStopped.FAILED) -> None:
        self._abandoned = why
        self._ended.set()

    @property
    def finished(self) -> bool:
        return self._ended.is_set() and self._abandoned is None

    @property
    def final_size(self) -> int | None:
        return self._final_size if self.finished else None

    def current_size(self) -> int:
        try:
            return os.stat(self.path).st_size
        except FileNotFoundError:  # the writer has not created it yet
            return 0

    def wait_for(self, end: int, timeout: float) -> int | None:
        """Wait until ``end`` bytes are written or the file is finished; returns the size then (final once
        finished), or None if neither happened within ``timeout``. Raises if the writer gave up."""
        deadline = time.monotonic() + timeout
        while True:
            if self._abandoned is not None:
                raise GrowingFileAbandoned(
                    f"{self.path} was not finished by its writer ({self._abandoned})", self._abandoned
                )
            if self._ended.is_set():
                return self._final_size
            size = self.current_size()
            if size >= end:
                return size
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._ended.wait(min(self._poll, remaining))


class GrowingPartBody(PartBody):
    """A ``PartBody`` for a part the writer has not finished yet (a "lead" part): each block is sent as
    soon as it is written, so the part is on the wire while the encoder produces it and stored moments
    after its last byte is written, instead of a whole part's send later.

    Its length (the part size) is declared up front, as S3 needs. Waiting for the writer is not a stall
    (the watchdog is suspended meanwhile; the writer is ffmpeg writing a fragment at least every second
    of video). If the writer finishes before the part's end, the body raises ``PartCutShort``: the
    request fails without S3 storing anything, and the caller sends the real last part."""

    def __init__(self, growing: GrowingFile, offset: int, length: int, **options: Any) -> None:
        super().__init__(growing.path, offset, length, **options)
        self.growing = growing

    def _readable(self, offset: int, wanted: int) -> int:
        part_end = self.offset + self.length
        while True:
            self._check_interrupts()
            with self._waiting_on_purpose():
                size = self.growing.wait_for(offset + wanted, BODY_WAIT_SLICE)
            final = self.growing.final_size
            if final is not None and final < part_end:
                raise PartCutShort(f"{self.path} ended {part_end - final} bytes before the end of this part")
            if size is None:  # no whole block within the slice: send what there is
                size = self.growing.current_size()
            if size > offset:
                return min(wanted, size - offset)


class GrowingScanner:
    """Like ``FileScanner``, for a ``GrowingFile``: yields ``(part, checksum)`` in order as soon as each part
    is written, and ``None`` when the next part is not ready within ``poll`` (so the caller's loop can
    tend to its parts in flight). The whole-file SHA-256 is fed in the same pass."""

    def __init__(
        self,
        growing: GrowingFile,
        part_size: int,
        *,
        max_parts: int,
        algorithm: ChecksumAlgorithm | str = ChecksumAlgorithm.CRC32C,
        poll: float = 0.25,
        block_size: int = BLOCK_SIZE,
    ) -> None:
        self.growing = growing
        self.part_size = part_size
        self.max_parts = max_parts
        self.algorithm = ChecksumAlgorithm(algorithm)
        self._poll = poll
        self._block_size = block_size
        self._sha256 = hashlib.sha256()
        self._done = False
        self.size = 0
        self.parts: list[Part] = []
        self.read_early: dict[int, PartChecksum] = {}
        """Parts read before the writer finished, with the checksum they had then."""

    @property
    def sha256_hex(self) -> str:
        if not self._done:
            raise RuntimeError(f"the SHA-256 of {self.growing.path} is known only after the whole file was scanned")
        return self._sha256.hexdigest()

    def __iter__(self) -> Iterator[tuple[Part, PartChecksum] | None]:
        offset = 0
        handle: BinaryIO | None = None
        try:
            while True:
                available = self.growing.wait_for(offset + self.part_size, self._poll)
                if available is None:
                    yield None
                    continue
                final = self.growing.final_size
                if final is not None and offset >= final:
                    break
                length = self.part_size if final is None else min(self.part_size, final - offset)
                number = len(self.parts) + 1
                if number > self.max_parts:
                    raise GrowingFileTooLarge(
                        f"{self.growing.path} grew past the {self.max_parts * self.part_size} bytes declared"
                    )
                if handle is None:
                    handle = open(self.growing.path, "rb")  # noqa: SIM115 - held across yields, closed below
                part = Part(number=number, offset=offset, length=length)
                checksum = self._read(handle, part)
                if final is None:
                    self.read_early[number] = checksum
                self.parts.append(part)
                offset = part.end
                yield part, checksum
            if offset == 0:
                raise SourceChangedError(f"{self.growing.path} was finished empty: there is nothing to upload")
            self.size = offset
            self._done = True
        finally:
            if handle is not None:
                handle.close()

    def _read(self, handle: BinaryIO, part: Part) -> PartChecksum:
        digest = new_checksum(self.algorithm)
        remaining = part.length
        while remaining:
            offset = part.end - remaining
            block = read_exact(handle, self.growing.path, offset, min(self._block_size, remaining))
            digest.update(block)
            self._sha256.update(block)
            remaining -= len(block)
        return finish(digest, self.algorithm)

    def changed_parts(self) -> dict[int, PartChecksum]:
        """Parts read while the file grew whose bytes differ in the finished file, with their new checksum."""
        changed = {}
        for number, early in self.read_early.items():
            part = self.parts[number - 1]
            now = checksum_range(self.growing.path, part.offset, part.length, algorithm=self.algorithm)
            if now.digest != early.digest:
                changed[number] = now
        return changed

    def rehash(self) -> str:
        """The SHA-256 of the finished file, read again (after parts changed behind the scan)."""
        digest = hashlib.sha256()
        with open(self.growing.path, "rb") as handle:
            while block := handle.read(self._block_size):
                digest.update(block)
        self._sha256 = digest
        return digest.hexdigest()
