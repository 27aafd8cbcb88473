"""How much disk "This computer" (the built-in server) takes, and "Free space" on it. No Qt here.

The built-in server keeps everything under one folder (``app.connect.embedded_data_dir()``): its SQLite
database, the object store (results ZIPs, outputs, uploaded copies, unfinished parts, temp files) and its
worker's work folders. `space_used` walks that folder and adds up the files' sizes; `free_local_space`
asks the server to remove the files of finished jobs whose results the app has already saved, then
measures again. Both block (a big folder takes a while to walk): the GUI runs them on a worker thread
and shows the plain result they return.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from app.core.pipeline.model import ItemSnapshot, Stage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpaceUsage:
    """What a folder holds: ``bytes`` is the sum of its files' sizes (symbolic links not followed)."""

    folder: Path
    bytes: int = 0
    files: int = 0
    exists: bool = True
    # Entries that could not be read (no permission, or removed while we looked): not counted.
    unreadable: int = 0
    # Bytes under each of the folder's own entries ("storage", "reeldrop-server.sqlite3", ...).
    parts: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


def space_used(folder: Path) -> SpaceUsage:
    """Walk `folder` and add up what its files take. Never raises for what is found inside: files that
    vanish mid-walk (the server keeps working) or cannot be read are skipped and counted as unreadable."""
    try:
        top = os.stat(folder)
    except FileNotFoundError:
        return SpaceUsage(folder, exists=False)
    except OSError as exc:
        log.info("Could not look at %s: %s", folder, exc.strerror or exc)
        return SpaceUsage(folder, unreadable=1)
    if not stat.S_ISDIR(top.st_mode):
        return SpaceUsage(folder, top.st_size, 1, parts=MappingProxyType({folder.name: top.st_size}))

    total = files = unreadable = 0
    parts: dict[str, int] = {}
    # (path, the top-level entry it belongs to); an explicit stack: no recursion limit on deep trees.
    stack: list[tuple[str, str | None]] = [(os.fspath(folder), None)]
    while stack:
        path, part = stack.pop()
        try:
            with os.scandir(path) as entries:
                listed = list(entries)
        except FileNotFoundError:
            continue  # removed since its parent was listed
        except OSError:
            unreadable += 1
            continue
        for entry in listed:
            owner = part if part is not None else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    parts.setdefault(owner, 0)
                    stack.append((entry.path, owner))
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue  # a symbolic link, socket or fifo takes (next to) nothing of its own
                size = entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue
            except OSError:
                unreadable += 1
                continue
            total += size
            files += 1
            parts[owner] = parts.get(owner, 0) + size
    return SpaceUsage(folder, total, files, True, unreadable, MappingProxyType(parts))


def unsaved_job_ids(items: Iterable[ItemSnapshot]) -> list[str]:
    """The server jobs whose results the app has not saved yet: queue items that are not Done and have a
    job id (still processing, downloading, paused or failed on the way). Free space must keep these."""
    return sorted({item.job_id for item in items if item.job_id and item.stage is not Stage.DONE})


class _FreesSpace(Protocol):
    def free_space(self, keep_job_ids: Sequence[str]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class FreedSpace:
    """What "Free space" did: the server's own count, and the folder measured after."""

    freed_bytes: int
    removed_objects: int
    jobs: int
    kept_jobs: int
    usage: SpaceUsage


def free_local_space(
    client: _FreesSpace, queue_items: Callable[[], Iterable[ItemSnapshot]], folder: Path
) -> FreedSpace:
    """Ask the built-in server to remove the files of finished jobs, keeping those the queue still needs,
    then measure `folder` again. `queue_items` is called just before the request, so the list of jobs to
    keep is as fresh as it can be. Raises what the client raises (BackendError, BackendUnavailable)."""
    keep = unsaved_job_ids(queue_items())
    answer = client.free_space(keep)
    freed = FreedSpace(
        freed_bytes=_count(answer, "freed_bytes"),
        removed_objects=_count(answer, "removed_objects"),
        jobs=_count(answer, "jobs"),
        kept_jobs=len(keep),
        usage=space_used(folder),
    )
    log.info(
        "Freed %d bytes on This computer (%d files of %d finished jobs; %d jobs kept for the queue)",
        freed.freed_bytes,
        freed.removed_objects,
        freed.jobs,
        freed.kept_jobs,
    )
    return freed


def _count(answer: Mapping[str, Any] | None, key: str) -> int:
    value = (answer or {}).get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
