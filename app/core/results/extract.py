"""Unpack a results ZIP into its output folder safely: all of it, or nothing.

Every entry is checked first (zipcheck.py). The files are then written into a hidden staging folder
beside the target, counting the bytes really written against the caps (the header's sizes are a claim, not
a fact), and the staging folder is renamed to the target only once every entry has been written and its
CRC checked. On any failure, cancel included, the staging folder is removed: nothing is left beside the
target and the target itself is untouched.

ZIP64 (over 4 GiB, or over 65,535 entries) is read by zipfile transparently; nothing here assumes 32 bits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from app.core.results.zipcheck import (
    CorruptZipError,
    ExtractLimits,
    OverlappingEntriesError,
    UnsafeEntryNameError,
    UnsafeEntryTypeError,
    ZipExtractError,
    ZipLimitError,
    check_archive,
    check_entry_count,
)
from app.core.transfer.control import TransferControl

log = logging.getLogger(__name__)

__all__ = [
    "CorruptZipError",
    "ExtractLimits",
    "ExtractResult",
    "OverlappingEntriesError",
    "UnsafeEntryNameError",
    "UnsafeEntryTypeError",
    "ZipExtractError",
    "ZipLimitError",
    "already_extracted",
    "check_zip",
    "extract_results",
]

COPY_BLOCK = 1024 * 1024
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ExtractResult:
    folder: Path
    files: tuple[str, ...]  # relative POSIX names of the files written (folders not listed)
    total_bytes: int


def check_zip(zip_path: Path | str, limits: ExtractLimits | None = None) -> list[zipfile.ZipInfo]:
    """Check a ZIP without extracting it; returns its entries or raises a ZipExtractError subclass."""
    path, limits = Path(zip_path), limits or ExtractLimits()
    with _open_archive(path, limits) as archive, open(path, "rb") as handle:
        return check_archive(archive, handle, limits, str(path))


@contextlib.contextmanager
def _open_archive(path: Path, limits: ExtractLimits) -> Iterator[zipfile.ZipFile]:
    try:
        with open(path, "rb") as handle:
            check_entry_count(handle, limits, str(path))
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise CorruptZipError(str(path), None, f"not a readable ZIP ({error})") from error
    except OSError as error:
        raise ZipExtractError(str(path), None, f"cannot be opened ({error.strerror or error})") from error
    with archive:
        yield archive


def _inside(folder: Path, name: str, label: str) -> Path:
    """The path of entry ``name`` under ``folder``; refuses anything that resolves elsewhere."""
    destination = folder.joinpath(*name.rstrip("/").split("/"))
    root = os.path.realpath(folder)
    if os.path.commonpath([root, os.path.realpath(destination)]) != root:
        raise UnsafeEntryNameError(label, name, "it would be written outside the output folder")
    return destination


class _Writer:
    """Writes checked entries into ``staging``, counting real bytes against the limits."""

    def __init__(
        self,
        archive: zipfile.ZipFile,
        staging: Path,
        limits: ExtractLimits,
        label: str,
        control: TransferControl | None,
        on_progress: Callable[[int, int], None] | None,
        declared_total: int,
        total_cap: int,
    ) -> None:
        self.archive, self.staging, self.limits, self.label = archive, staging, limits, label
        self.control, self.on_progress, self.declared_total = control, on_progress, declared_total
        self.total_cap = total_cap  # the whole archive's ratio cap, on the bytes really written
        self.written = 0
        self.files: list[str] = []

    def entry(self, info: zipfile.ZipInfo) -> None:
        if self.control is not None:
            self.control.raise_if_stopped()
        destination = _inside(self.staging, info.filename, self.label)
        if info.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
            return
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.archive.open(info) as source, open(destination, "xb") as out:
                self._copy(info, source, out)
        except zipfile.BadZipFile as error:  # a bad CRC is found at the end of the entry's data
            raise CorruptZipError(self.label, info.filename, str(error)) from error
        except (zlib.error, EOFError) as error:
            raise CorruptZipError(self.label, info.filename, f"its data cannot be decompressed ({error})") from error
        except NotImplementedError as error:
            raise CorruptZipError(self.label, info.filename, f"unsupported ZIP feature ({error})") from error
        except FileExistsError as error:  # e.g. a file named like a folder another entry created
            raise UnsafeEntryNameError(self.label, info.filename, "another entry already wrote this path") from error
        self.files.append(info.filename)

    def _copy(self, info: zipfile.ZipInfo, source: IO[bytes], out: IO[bytes]) -> None:
        entry_bytes = 0
        while block := source.read(COPY_BLOCK):
            entry_bytes += len(block)
            self.written += len(block)
            self._check_counts(info, entry_bytes)
            out.write(block)
            if self.control is not None:
                self.control.raise_if_stopped()
            if self.on_progress is not None:
                self.on_progress(self.written, self.declared_total)

    def _check_counts(self, info: zipfile.ZipInfo, entry_bytes: int) -> None:
        limits = self.limits
        if entry_bytes > info.file_size:
            raise ZipLimitError(self.label, info.filename, f"it holds more than the {info.file_size} bytes it declares")
        if self.written > self.total_cap:
            raise ZipLimitError(self.label, info.filename, f"the ZIP expands past {self.total_cap} bytes")
        ratio = entry_bytes / max(1, info.compress_size)
        if entry_bytes > limits.ratio_min_bytes and ratio > limits.max_ratio:
            raise ZipLimitError(
                self.label, info.filename, f"it expands {ratio:.0f}:1, beyond the {limits.max_ratio:g}:1 allowed"
            )


def _prepare_target(target: Path, overwrite: bool, label: str) -> None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ZipExtractError(label, None, f"the output {target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise ZipExtractError(label, None, f"the output folder {target} already exists and is not empty")
    target.parent.mkdir(parents=True, exist_ok=True)


def _publish(staging: Path, target: Path) -> None:
    """Swap the finished staging folder in; an old target is moved aside first and removed after."""
    old: Path | None = None
    if target.is_dir():
        if any(target.iterdir()):
            old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:12]}")
            os.replace(target, old)
        else:
            target.rmdir()
    try:
        os.replace(staging, target)
    except OSError:
        if old is not None:  # put the previous results back rather than leave the folder missing
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def already_extracted(zip_path: Path | str, folders: Iterable[Path]) -> Path | None:
    """The folder among ``folders`` that already holds this ZIP's results, or None.

    Extraction publishes a folder with one rename once every entry is written, so a folder whose
    ``manifest.json`` is byte for byte the ZIP's (it names the job and every entry's SHA-256) is a complete
    earlier extraction of this very ZIP: say, by a run killed before it could record that it was done.
    Every file the manifest lists must be there with its size too. A ZIP without a manifest matches nothing."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            info = archive.getinfo(MANIFEST)
            if info.file_size > MAX_MANIFEST_BYTES:
                return None
            wanted = archive.read(info)
    except (KeyError, OSError, zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError):
        return None
    try:
        entries = json.loads(wanted).get("entries") or []
    except (ValueError, AttributeError):
        return None
    for folder in folders:
        try:
            if (folder / MANIFEST).read_bytes() != wanted:
                continue
        except OSError:
            continue
        if all(_holds(folder, entry) for entry in entries):
            return folder
    return None


def _holds(folder: Path, entry: object) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        return False
    try:
        return (folder / entry["name"]).stat().st_size == int(entry.get("size", -1))
    except (OSError, ValueError, TypeError):
        return False


def extract_results(
    zip_path: Path | str,
    target: Path | str,
    *,
    limits: ExtractLimits | None = None,
    overwrite: bool = False,
    control: TransferControl | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ExtractResult:
    """Extract ``zip_path`` into the folder ``target`` (created; must be absent or empty unless
    ``overwrite``). ``on_progress(bytes_written, bytes_declared)``. Raises a ZipExtractError subclass
    (or TransferInterrupted on cancel/pause) and then leaves nothing behind."""
    zip_path, target = Path(zip_path), Path(target)
    limits = limits or ExtractLimits()
    label = str(zip_path)
    _prepare_target(target, overwrite, label)
    with _open_archive(zip_path, limits) as archive:
        with open(zip_path, "rb") as handle:
            infos = check_archive(archive, handle, limits, label)
        declared = sum(info.file_size for info in infos if not info.is_dir())
        free = shutil.disk_usage(target.parent).free
        if declared > free:
            raise ZipExtractError(label, None, f"not enough free disk space ({declared} bytes needed, {free} free)")
        staging = target.with_name(f".{target.name}.extracting-{uuid.uuid4().hex[:12]}")
        staging.mkdir()
        try:
            cap = limits.total_cap(zip_path.stat().st_size)
            writer = _Writer(archive, staging, limits, label, control, on_progress, declared, cap)
            for info in infos:
                writer.entry(info)
            _publish(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    log.info("extracted %d files (%d bytes) from %s into %s", len(writer.files), writer.written, zip_path, target)
    return ExtractResult(target, tuple(writer.files), writer.written)
