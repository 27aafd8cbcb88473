"""The on-disk state of an unfinished results download: ``NAME.zip.part`` and its ``NAME.zip.part.json``.

The sidecar keeps only what outlives a presigned URL: the size and SHA-256 the server announced and the
ETag of the object the bytes came from (never the URL, which expires and carries a signature). A later
process resumes when the server still announces the same size and hash, sending ``If-Range: <etag>`` so the
storage sends the rest only if the object is the same one. A ``.part`` without a readable sidecar is not
trusted and starts over.

Write order keeps the pair consistent across a kill at any instant: the part file is truncated before a new
sidecar is written, and body bytes are appended only after it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SIDECAR_VERSION = 1
HASH_BLOCK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class PartialState:
    size: int
    sha256: str
    etag: str | None

    def describes(self, size: int, sha256: str) -> bool:
        return self.size == size and self.sha256.lower() == sha256.lower()


def part_path(destination: Path) -> Path:
    return destination.with_name(destination.name + ".part")


def sidecar_path(destination: Path) -> Path:
    return destination.with_name(destination.name + ".part.json")


def load_state(destination: Path) -> PartialState | None:
    """The sidecar's facts, or None when it is missing or unreadable (then the partial is not trusted)."""
    path = sidecar_path(destination)
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("version") != SIDECAR_VERSION:
            return None
        etag = raw.get("etag")
        return PartialState(int(raw["size"]), str(raw["sha256"]), None if etag is None else str(etag))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        log.info("ignoring unreadable download state %s: %s", path, error)
        return None


def save_state(destination: Path, state: PartialState) -> None:
    """Write the sidecar atomically (temp file + rename), so a kill never leaves half a JSON document."""
    path = sidecar_path(destination)
    temp = path.with_name(path.name + ".tmp")
    with open(temp, "w", encoding="utf-8") as out:
        json.dump({"version": SIDECAR_VERSION, **asdict(state)}, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)


def discard_partial(destination: Path) -> None:
    """Remove the part file and its sidecar (and a sidecar temp a kill may have left)."""
    side = sidecar_path(destination)
    for path in (part_path(destination), side, side.with_name(side.name + ".tmp")):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def hash_file(path: Path, digest: Any | None = None) -> tuple[Any, int]:
    """Feed the file into ``digest`` (a new SHA-256 by default); returns (digest, bytes read)."""
    digest = digest if digest is not None else hashlib.sha256()
    total = 0
    with open(path, "rb") as source:
        while block := source.read(HASH_BLOCK):
            digest.update(block)
            total += len(block)
    return digest, total
