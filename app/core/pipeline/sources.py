"""What can be queued: folders expand to the media inside; missing, empty or unreadable files are refused."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from app.core.source_file import SourceProblem, check_source

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
    source = check_source(path)
    if source.ok:
        return None
    name = path.name or str(path)
    if source.problem is SourceProblem.IS_DIRECTORY:  # expand_sources passes on only folders with no media
        return source.problem.value, f"{name}: this folder holds no video or audio files."
    assert source.problem is not None
    return source.problem.value, f"{name}: {source.cause}."
