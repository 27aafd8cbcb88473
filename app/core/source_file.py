"""Can this file be sent at all? One check for the queue, the probe and the upload engine.

It runs before anything slow: a file that is gone, a folder, a pipe or device (reading one can block forever),
an empty file, one over S3's 5 TiB object limit, or one this user may not read is refused with the reason,
in words that follow the file's name ("clip.mp4: is empty (0 bytes)"). Readability is tested by reading a
byte, not by ``os.access``: that is what the encoder and the upload will do, whoever the process runs as.
"""

from __future__ import annotations

import enum
import stat
from dataclasses import dataclass
from pathlib import Path

from app.core.transfer.planning import MAX_OBJECT_SIZE


class SourceProblem(enum.StrEnum):
    """Why a file cannot be sent; the values are the error types the pipeline journals and the GUI words."""

    MISSING = "missing"
    IS_DIRECTORY = "is_directory"
    NOT_REGULAR = "not_media"  # a pipe, device or socket
    EMPTY = "empty_file"
    TOO_LARGE = "too_large"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class SourceCheck:
    size: int
    problem: SourceProblem | None = None
    cause: str = ""  # follows the file's name: "does not exist (moved or deleted?)"

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_source(path: Path) -> SourceCheck:
    """What stands in the way of reading ``path`` from start to end, if anything. Never raises."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return SourceCheck(0, SourceProblem.MISSING, "does not exist (moved or deleted?)")
    except OSError as error:
        return SourceCheck(0, SourceProblem.UNREADABLE, f"cannot be read ({error.strerror or error})")
    if stat.S_ISDIR(info.st_mode):
        return SourceCheck(0, SourceProblem.IS_DIRECTORY, "is a folder, not a file (give the video files inside it)")
    if not stat.S_ISREG(info.st_mode):
        return SourceCheck(0, SourceProblem.NOT_REGULAR, "is not a regular file")
    if info.st_size == 0:
        return SourceCheck(0, SourceProblem.EMPTY, "is empty (0 bytes)")
    if info.st_size > MAX_OBJECT_SIZE:
        return SourceCheck(
            info.st_size, SourceProblem.TOO_LARGE, f"is {info.st_size} bytes, over S3's 5 TiB object limit"
        )
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as error:
        return SourceCheck(info.st_size, SourceProblem.UNREADABLE, f"cannot be read ({error.strerror or error})")
    return SourceCheck(info.st_size)
