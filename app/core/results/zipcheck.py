"""Decide, before one byte is written, whether every entry of a results ZIP is safe to extract.

Refused (RELIABILITY.md test 15): names that could land outside the target (``..``, absolute ``/x``, drive
letters ``C:x``, UNC ``\\\\server\\x``, any backslash, NUL or other control characters, Windows device names),
duplicate names, symlinks and devices (the Unix mode in ``external_attr``), encrypted entries, entries whose
bytes overlap another entry's (the overlapping-file zip bomb: many names, one compressed stream), and
archives over the caps: entry count (read from the end records before zipfile reads the entries), name
length and folder depth, total size, and the compression ratio of each entry and of the whole archive. The
declared sizes checked here are only a first gate; extraction counts the bytes it really writes against the
same caps.
"""

from __future__ import annotations

import re
import stat
import struct
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

MiB = 1024 * 1024
GiB = 1024 * MiB

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # zipfile's sizeFileHeader: 30 bytes
_LOCAL_MAGIC = b"PK\x03\x04"
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
)
_TRAILING_NOT_ALLOWED = (" ", ".")


@dataclass(frozen=True, slots=True)
class ExtractLimits:
    max_entries: int = 100_000
    max_total_bytes: int = 256 * GiB
    max_ratio: float = 200.0  # uncompressed / compressed, for entries bigger than ratio_min_bytes
    ratio_min_bytes: int = 8 * MiB
    # The whole archive too (many entries each just under ratio_min_bytes: 128 × 8 MiB of zeros is a 1 MB
    # ZIP of 1 GiB): it expands to at most max_ratio × its own size, or ratio_min_bytes if that is more.
    # Results are mostly video, which hardly compresses; only a bomb comes near.
    max_depth: int = 32  # folders within folders (2,000 of them overflowed Python's recursion in mkdir)
    max_name_length: int = 1024  # characters of a whole entry name; 255 for each of its components

    def total_cap(self, archive_bytes: int) -> int:
        return min(self.max_total_bytes, max(self.ratio_min_bytes, int(self.max_ratio * archive_bytes)))


class ZipExtractError(Exception):
    """The ZIP was not extracted; nothing of it is left on disk. ``entry`` names the culprit if any."""

    def __init__(self, archive: str, entry: str | None, cause: str) -> None:
        where = f"{archive}: entry {entry!r}" if entry is not None else archive
        super().__init__(f"{where}: {cause}")
        self.archive = archive
        self.entry = entry
        self.cause = cause


class UnsafeEntryNameError(ZipExtractError):
    """A name that is absolute, climbs out with '..', uses a drive, UNC or backslash, or is not portable."""


class UnsafeEntryTypeError(ZipExtractError):
    """A symlink, device, FIFO, socket or encrypted entry."""


class OverlappingEntriesError(ZipExtractError):
    """Two entries share bytes of the archive: the overlapping-file zip bomb."""


class ZipLimitError(ZipExtractError):
    """Too many entries, too many bytes, or a compression ratio only a bomb has."""


class CorruptZipError(ZipExtractError):
    """Not a ZIP, truncated, a bad CRC, or an entry that cannot be read."""


def name_problem(name: str) -> str | None:
    """Why ``name`` is unsafe as a relative path on any platform, or None if it is fine."""
    if not name or name in ("/", "."):
        return "the name is empty"
    if _CONTROL.search(name):
        return "the name contains control characters"
    if "\\" in name:
        return "the name contains a backslash (a Windows or UNC path)"
    if name.startswith("/"):
        return "the name is an absolute path"
    if _DRIVE.match(name) or ":" in name:
        return "the name contains a drive letter or ':'"
    parts = name.rstrip("/").split("/")
    if any(part == ".." for part in parts):
        return "the name climbs out of the folder with '..'"
    for part in parts:
        if not part or part == ".":
            return "the name has an empty or '.' component"
        if part.endswith(_TRAILING_NOT_ALLOWED):
            return "a name component ends with a space or a dot"
        if part.split(".")[0].lower() in _WINDOWS_DEVICES:
            return f"{part!r} is a reserved device name on Windows"
    return None


def type_problem(info: zipfile.ZipInfo) -> str | None:
    if info.flag_bits & 0x1:
        return "the entry is encrypted"
    mode = info.external_attr >> 16
    if not stat.S_IFMT(mode):
        return None  # no Unix file type recorded (DOS/Windows archives, zipfile's writestr): a plain entry
    if stat.S_ISLNK(mode):
        return "the entry is a symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "the entry is a device"
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return "the entry is a FIFO or socket"
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return f"the entry has an unknown file type (mode {mode:o})"
    if stat.S_ISDIR(mode) != info.is_dir():
        return "the entry's type and name disagree (folder vs file)"
    return None


def _data_span(handle: BinaryIO, info: zipfile.ZipInfo, archive: str) -> tuple[int, int]:
    """[start, end) of the entry's local header and compressed bytes, from its own local header."""
    handle.seek(info.header_offset)
    raw = handle.read(_LOCAL_HEADER.size)
    if len(raw) != _LOCAL_HEADER.size or raw[:4] != _LOCAL_MAGIC:
        raise CorruptZipError(archive, info.filename, "its local header is missing or damaged")
    fields = _LOCAL_HEADER.unpack(raw)
    name_length, extra_length = fields[9], fields[10]
    data_start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    return info.header_offset, data_start + info.compress_size


def check_overlaps(handle: BinaryIO, infos: list[zipfile.ZipInfo], central_start: int, archive: str) -> None:
    spans = sorted((_data_span(handle, info, archive), info.filename) for info in infos)
    previous_end, previous_name = 0, None
    for (start, end), name in spans:
        if start < previous_end:
            raise OverlappingEntriesError(
                archive, name, f"its bytes overlap those of {previous_name!r} (an overlapping-entry zip bomb)"
            )
        previous_end, previous_name = end, name
    if previous_end > central_start:
        raise OverlappingEntriesError(archive, previous_name, "its bytes run into the central directory")


_EOCD = struct.Struct("<4s4H2LH")  # end of central directory: 22 bytes, then a comment of up to 65,535
_EOCD64_LOCATOR = struct.Struct("<4sLQL")  # 20 bytes just before the EOCD in a ZIP64 archive
_EOCD64 = struct.Struct("<4sQ2H2L4Q")  # the ZIP64 end of central directory record: 56 bytes


def declared_entry_count(handle: BinaryIO) -> int | None:
    """How many entries the archive's end records say it holds (ZIP64 ones included), read from its last
    bytes alone; None if they cannot be found. zipfile reads the whole central directory when it opens an
    archive: a million entries cost 20 s and 530 MiB before a cap on the count could refuse them."""
    end = handle.seek(0, 2)
    tail_start = max(0, end - _EOCD.size - 65_535)
    handle.seek(tail_start)
    tail = handle.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        return None
    count = _EOCD.unpack_from(tail, at)[4]
    locator_at = at - _EOCD64_LOCATOR.size
    if count == 0xFFFF and locator_at >= 0 and tail[locator_at : locator_at + 4] == b"PK\x06\x07":
        record_offset = _EOCD64_LOCATOR.unpack_from(tail, locator_at)[2]
        handle.seek(record_offset)
        record = handle.read(_EOCD64.size)
        if len(record) == _EOCD64.size and record[:4] == b"PK\x06\x06":
            return int(_EOCD64.unpack(record)[6])
    return int(count)


def check_entry_count(handle: BinaryIO, limits: ExtractLimits, label: str) -> None:
    """Refuse an archive whose end records declare more entries than allowed, before zipfile reads them."""
    count = declared_entry_count(handle)
    if count is not None and count > limits.max_entries:
        raise ZipLimitError(label, None, f"it holds {count} entries, more than the {limits.max_entries} allowed")


def size_problem(name: str, limits: ExtractLimits) -> str | None:
    parts = name.rstrip("/").split("/")
    if len(parts) > limits.max_depth:
        return f"it is {len(parts)} folders deep, more than the {limits.max_depth} allowed"
    if len(name) > limits.max_name_length or any(len(part) > 255 for part in parts):
        return f"the name is longer than {limits.max_name_length} characters (or 255 for one folder or file)"
    return None


def check_archive(
    archive: zipfile.ZipFile, handle: BinaryIO, limits: ExtractLimits, label: str
) -> list[zipfile.ZipInfo]:
    """Every entry, checked; raises the first problem found (count, names and types, ratio, total, overlap).
    ``handle`` is a second read handle on the archive file, for reading local headers."""
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise ZipLimitError(label, None, f"it holds {len(infos)} entries, more than the {limits.max_entries} allowed")
    seen: set[str] = set()
    total = 0
    for info in infos:
        # orig_filename is the name as stored: zipfile cuts it at a NUL and may rewrite separators
        problem = name_problem(info.orig_filename) or name_problem(info.filename) or size_problem(info.filename, limits)
        if problem is not None:
            raise UnsafeEntryNameError(label, info.orig_filename, problem)
        problem = type_problem(info)
        if problem is not None:
            raise UnsafeEntryTypeError(label, info.orig_filename, problem)
        key = str(PurePosixPath(info.filename.rstrip("/"))).casefold()
        if key in seen:  # casefold: on Windows and macOS two names differing in case are one file
            raise UnsafeEntryNameError(label, info.filename, "another entry has the same name")
        seen.add(key)
        if info.is_dir():
            continue
        total += info.file_size
        ratio = info.file_size / max(1, info.compress_size)
        if info.file_size > limits.ratio_min_bytes and ratio > limits.max_ratio:
            raise ZipLimitError(
                label, info.filename, f"it expands {ratio:.0f}:1, beyond the {limits.max_ratio:g}:1 allowed"
            )
    if total > limits.max_total_bytes:
        raise ZipLimitError(label, None, f"it expands to {total} bytes, more than the {limits.max_total_bytes} allowed")
    archive_bytes = handle.seek(0, 2)
    if total > limits.total_cap(archive_bytes):
        raise ZipLimitError(
            label,
            None,
            f"its {archive_bytes} bytes expand to {total} ({total / max(1, archive_bytes):.0f}:1, beyond the "
            f"{limits.max_ratio:g}:1 allowed for a whole archive)",
        )
    check_overlaps(handle, infos, archive.start_dir, label)
    return infos
