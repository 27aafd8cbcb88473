"""The file every client uploads: random bytes (incompressible), cached between runs, with its SHA-256."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from app.commands.common import parse_size as cli_parse_size

BLOCK = 8 * 1024 * 1024


def parse_size(text: str) -> int:
    """``1G``, ``128M``, ``8MiB``, ``4096`` → bytes (binary multiples), as the reeldrop CLI reads them."""
    size = cli_parse_size(text)
    if size <= 0:
        raise ValueError(f"size {text!r} must be positive")
    return size


def default_cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "reeldrop-bench-cache"


def human(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"


def random_file(cache_dir: Path, size: int) -> tuple[Path, str]:
    """A file of ``size`` random bytes and its SHA-256, made once and reused while its size matches.

    The ``.mp4`` name is only so the ReelDrop server accepts it as a video; the content is random, which
    keeps any compression or deduplication on the path from flattering a client.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"random-{human(size)}.mp4"
    digest_path = path.with_name(path.name + ".sha256")
    if path.is_file() and path.stat().st_size == size and digest_path.is_file():
        digest = digest_path.read_text().strip()
        _read_through(path)  # every client then starts with the file in the page cache
        return path, digest
    partial = path.with_name(path.name + f".{os.getpid()}.partial")
    hasher = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            left = size
            while left > 0:
                block = os.urandom(min(BLOCK, left))
                hasher.update(block)
                out.write(block)
                left -= len(block)
        os.replace(partial, path)  # a run cut short never leaves a wrong-sized file under the real name
    finally:
        partial.unlink(missing_ok=True)
    digest = hasher.hexdigest()
    digest_path.write_text(digest + "\n")
    return path, digest


def _read_through(path: Path) -> None:
    with path.open("rb", buffering=0) as source:
        while source.read(BLOCK):
            pass
