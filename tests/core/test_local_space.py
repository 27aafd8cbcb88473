"""This computer's disk space: a real folder walked, the jobs "Free space" keeps, and what it reports."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from app.core import local_space
from app.core.local_space import free_local_space, space_used, unsaved_job_ids
from app.core.pipeline.model import ItemSnapshot, Stage


def write(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return path


def server_folder(root: Path) -> Path:
    """What the built-in server's folder looks like: a database, the object store, a worker's work dir."""
    folder = root / "server"
    write(folder / "reeldrop-server.sqlite3", 40_960)
    write(folder / "reeldrop-server.sqlite3-wal", 1_000)
    write(folder / "storage" / "objects" / "ab" / "results.zip", 300_000)
    write(folder / "storage" / "objects" / "cd" / "out.mp4", 200_000)
    write(folder / "storage" / "parts" / "u1" / "00001", 5_000)
    (folder / "storage" / "tmp").mkdir(parents=True)  # an empty folder counts nothing
    write(folder / "work" / "job-1" / "frame.tmp", 123)
    return folder


def test_adds_up_every_file_under_the_folder(tmp_path):
    folder = server_folder(tmp_path)
    usage = space_used(folder)
    assert usage.exists and usage.folder == folder
    assert usage.bytes == 40_960 + 1_000 + 300_000 + 200_000 + 5_000 + 123
    assert usage.files == 6 and usage.unreadable == 0
    assert dict(usage.parts) == {
        "reeldrop-server.sqlite3": 40_960,
        "reeldrop-server.sqlite3-wal": 1_000,
        "storage": 505_000,
        "work": 123,
    }
    # The figure is the files' own sizes: the same as adding them up another way.
    assert usage.bytes == sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_the_figure_drops_when_files_go(tmp_path):
    folder = server_folder(tmp_path)
    before = space_used(folder).bytes
    (folder / "storage" / "objects" / "ab" / "results.zip").unlink()
    after = space_used(folder)
    assert after.bytes == before - 300_000 and after.parts["storage"] == 205_000


def test_a_missing_folder_is_not_an_error(tmp_path):
    usage = space_used(tmp_path / "never-started")
    assert not usage.exists and usage.bytes == 0 and usage.files == 0


def test_symbolic_links_are_not_followed(tmp_path):
    outside = write(tmp_path / "elsewhere" / "big.bin", 1_000_000)
    folder = tmp_path / "server"
    write(folder / "own.bin", 10)
    (folder / "link-to-file").symlink_to(outside)
    (folder / "link-to-folder").symlink_to(outside.parent, target_is_directory=True)
    (folder / "loop").symlink_to(folder, target_is_directory=True)  # would never end if followed
    usage = space_used(folder)
    assert usage.bytes == 10 and usage.files == 1


def test_a_deep_tree_does_not_hit_the_recursion_limit(tmp_path):
    deep = tmp_path / "server"
    here = deep
    for _ in range(300):
        here = here / "d"
    write(here / "leaf", 7)
    assert space_used(deep).bytes == 7


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads every folder")
def test_an_unreadable_folder_is_skipped_and_counted(tmp_path):
    folder = server_folder(tmp_path)
    locked = folder / "work"
    locked.chmod(0)
    try:
        usage = space_used(folder)
    finally:
        locked.chmod(0o755)
    assert usage.unreadable == 1
    assert usage.bytes == 40_960 + 1_000 + 300_000 + 200_000 + 5_000


def test_a_folder_it_may_not_read_is_skipped_and_counted(tmp_path, monkeypatch):
    # The same as above for any user (root reads a chmod 0 folder): scandir refusing is what matters.
    folder = server_folder(tmp_path)
    locked = folder / "work"
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(local_space.os, "scandir", scandir)
    usage = space_used(folder)
    assert usage.unreadable == 1 and usage.bytes == 40_960 + 1_000 + 300_000 + 200_000 + 5_000


def test_files_vanishing_during_the_walk_are_skipped(tmp_path, monkeypatch):
    # The server keeps working while the dialog measures: a folder listed, then removed, is not an error.
    folder = server_folder(tmp_path)
    gone = folder / "storage" / "parts"
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if Path(path) == gone:
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return real_scandir(path)

    monkeypatch.setattr(local_space.os, "scandir", scandir)
    usage = space_used(folder)
    assert usage.bytes == 40_960 + 1_000 + 300_000 + 200_000 + 123 and usage.unreadable == 0


def test_a_file_given_instead_of_a_folder(tmp_path):
    single = write(tmp_path / "one.bin", 99)
    assert space_used(single).bytes == 99


def snap(item_id: str, stage: Stage, job_id: str | None) -> ItemSnapshot:
    return ItemSnapshot(
        item_id, Path(f"/videos/{item_id}.mp4"), "1080p", stage, 0.0, 0.0, None, None, None, None, job_id=job_id
    )


def test_keeps_the_jobs_whose_results_are_not_saved_yet():
    items = [
        snap("done", Stage.DONE, "job-done"),  # saved in the results folder: may go
        snap("processing", Stage.PROCESSING, "job-processing"),
        snap("downloading", Stage.DOWNLOADING, "job-downloading"),
        snap("paused", Stage.PAUSED, "job-paused"),
        snap("failed", Stage.FAILED, "job-failed"),  # failed while downloading: a retry needs the results
        snap("uploading", Stage.UPLOADING, None),  # no job yet: nothing on the server to keep
        snap("waiting", Stage.WAITING, None),
        snap("again", Stage.DOWNLOADING, "job-downloading"),
    ]
    assert unsaved_job_ids(items) == ["job-downloading", "job-failed", "job-paused", "job-processing"]
    assert unsaved_job_ids([]) == []


class RecordingClient:
    """Stands in for the backend: records the keep list, and removes a file as the server would."""

    def __init__(self, remove: Path, answer: dict[str, Any]) -> None:
        self.remove = remove
        self.answer = answer
        self.kept: list[Sequence[str]] = []

    def free_space(self, keep_job_ids: Sequence[str]) -> dict[str, Any]:
        self.kept.append(list(keep_job_ids))
        self.remove.unlink()
        return self.answer


def test_free_local_space_asks_with_a_fresh_keep_list_and_measures_after(tmp_path):
    folder = server_folder(tmp_path)
    before = space_used(folder).bytes
    client = RecordingClient(
        folder / "storage" / "objects" / "ab" / "results.zip",
        {"freed_bytes": 300_000, "removed_objects": 1, "jobs": 1, "used_bytes": 0},
    )
    asked_on: list[str] = []

    def queue() -> list[ItemSnapshot]:
        asked_on.append(threading.current_thread().name)
        return [snap("a", Stage.DONE, "job-a"), snap("b", Stage.DOWNLOADING, "job-b")]

    freed = free_local_space(client, queue, folder)
    assert client.kept == [["job-b"]] and len(asked_on) == 1
    assert (freed.freed_bytes, freed.removed_objects, freed.jobs, freed.kept_jobs) == (300_000, 1, 1, 1)
    assert freed.usage.bytes == before - 300_000


def test_an_odd_answer_counts_as_nothing_freed(tmp_path):
    folder = server_folder(tmp_path)
    client = RecordingClient(folder / "work" / "job-1" / "frame.tmp", {"freed_bytes": "lots", "jobs": True})
    freed = free_local_space(client, list, folder)
    assert (freed.freed_bytes, freed.removed_objects, freed.jobs) == (0, 0, 0)
    assert client.kept == [[]]


def test_a_refusal_from_the_server_is_raised(tmp_path):
    from app.core.api import BackendUnavailable

    class Down:
        def free_space(self, keep_job_ids: Sequence[str]) -> dict[str, Any]:
            raise BackendUnavailable(0, "backend_unreachable", "The ReelDrop server cannot be reached.")

    with pytest.raises(BackendUnavailable):
        free_local_space(Down(), list, tmp_path)
