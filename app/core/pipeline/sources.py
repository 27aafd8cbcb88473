"""What can be queued: folders expand to the media inside; missing, empty or unreadable files are refused."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

MEDIA_SUFFIXES = frozenset(
    [
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".wmv",
        ".flv",
        ".mpg",
        ".mpeg",
        ".ts",
        ".mts",
        ".m2ts",
        ".3gp",
        ".mxf",
        ".ogv",
        ".mp3",
        ".m4a",
        ".aac",
        ".wav",
        ".flac",
        ".ogg",
        ".opus",
    ]
)


def expand_sources(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given; folders become the media files inside them (sorted). An empty folder stays itself,
    so the user hears why nothing was queued from it."""
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES and not p.name.startswith(".")
            )
            yield from found or [path]
        else:
            yield path


def refuse_reason(path: Path) -> tuple[str, str] | None:
    """(error_type, message) when the file cannot be queued at all; None when it can."""
    name = path.name or str(path)
    if not path.exists():
        return "missing", f"{name}: the file does not exist (moved or deleted?)."
    if path.is_dir():
        return "is_directory", f"{name}: this folder holds no video or audio files."
    if not path.is_file():
        return "unreadable", f"{name}: not a regular file."
    if path.stat().st_size == 0:
        return "empty_file", f"{name}: the file is empty (0 bytes)."
    if not os.access(path, os.R_OK):
        return "unreadable", f"{name}: ReelDrop is not allowed to read this file."
    return None
