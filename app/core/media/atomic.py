"""Write to a temp file, publish it with one rename; on any failure or cancel, leave nothing behind."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


def temp_path_for(destination: Path, temp_dir: Path) -> Path:
    """A unique hidden name in ``temp_dir`` that keeps the suffix (ffmpeg picks muxers by it)."""
    return temp_dir / f".{destination.stem}.{uuid.uuid4().hex[:12]}.partial{destination.suffix}"


@contextlib.contextmanager
def atomic_output(destination: Path | str, temp_dir: Path | str | None = None) -> Iterator[Path]:
    """Yield a temp path to write; move it to ``destination`` when the block succeeds.

    With ``temp_dir`` on another file system the finished file is first copied next to the destination
    and then renamed, so readers of ``destination`` never see a half-written file.
    """
    destination = Path(destination)
    directory = Path(temp_dir) if temp_dir is not None else destination.parent
    directory.mkdir(parents=True, exist_ok=True)
    temp = temp_path_for(destination, directory)
    try:
        yield temp
        publish(temp, destination)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def in_place_output(destination: Path | str) -> Iterator[Path]:
    """Yield ``destination`` itself to write; delete it if the block fails. For a file a reader follows
    while it is written (compress-while-upload): a rename at the end would pull it from under the reader
    on Windows. Whoever records the result must do so only after the block succeeded. A file already
    there (left by a run that crashed) is removed first: a reader that starts before the writer truncates
    it must not take its bytes for the new file's."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.unlink(missing_ok=True)
    try:
        yield destination
    except BaseException:
        destination.unlink(missing_ok=True)
        raise


def publish(temp: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(temp, destination)
        return
    except OSError as exc:
        if exc.errno != getattr(os, "EXDEV", 18) and not _is_cross_device(temp, destination):
            raise
    staging = temp_path_for(destination, destination.parent)
    try:
        shutil.copyfile(temp, staging)
        os.replace(staging, destination)
    finally:
        staging.unlink(missing_ok=True)
    temp.unlink(missing_ok=True)
    log.debug("published %s via a copy (temp folder on another file system)", destination)


def _is_cross_device(temp: Path, destination: Path) -> bool:
    try:
        return temp.stat().st_dev != destination.parent.stat().st_dev
    except OSError:
        return False
