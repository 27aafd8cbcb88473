"""Issue 16 item 2: "can this file be sent at all?" is answered in one place (app/core/source_file.py).

The queue (refusing a drop), the probe (before ffprobe opens anything) and the upload engine (before a part
is planned) each had a check of their own, with different words and different gaps (the queue trusted
`os.access`, the probe had no size limit, the engine's "no such file" said nothing of a move). Each bad form
of a file now gets the same cause from all three, after the file's name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from app.core.api import BackendClient
from app.core.media.errors import MediaError
from app.core.media.probe import probe
from app.core.pipeline.sources import refuse_reason
from app.core.source_file import SourceProblem, check_source
from app.core.transfer.engine import UploadEngine
from app.core.transfer.handle import UploadError
from app.core.transfer.journal import Journal
from tests.support.recording_server import RecordingServer


def missing(folder: Path) -> Path:
    return folder / "gone.mp4"


def empty(folder: Path) -> Path:
    path = folder / "empty.mp4"
    path.touch()
    return path


def pipe(folder: Path) -> Path:
    path = folder / "camera.mp4"
    os.mkfifo(path)  # reading it would block for ever: nothing may open it
    return path


def unreadable(folder: Path) -> Path:
    path = folder / "locked.mp4"
    path.write_bytes(b"\0" * 1024)
    path.chmod(0)
    return path


def directory(folder: Path) -> Path:
    path = folder / "folder.mp4"
    path.mkdir()
    return path


BAD_FORMS: list[tuple[Callable[[Path], Path], SourceProblem, str]] = [
    (missing, SourceProblem.MISSING, "does not exist (moved or deleted?)"),
    (empty, SourceProblem.EMPTY, "is empty (0 bytes)"),
    (pipe, SourceProblem.NOT_REGULAR, "is not a regular file"),
    (unreadable, SourceProblem.UNREADABLE, "cannot be read (Permission denied)"),
    (directory, SourceProblem.IS_DIRECTORY, "is a folder, not a file"),
]


@pytest.mark.parametrize(("make", "problem", "cause"), BAD_FORMS, ids=[form[0].__name__ for form in BAD_FORMS])
def test_the_queue_the_probe_and_the_engine_give_one_cause(
    make: Callable[[Path], Path], problem: SourceProblem, cause: str, tmp_path: Path
) -> None:
    if make is unreadable and os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    path = make(tmp_path)
    found = check_source(path)
    assert found.problem is problem and found.cause.startswith(cause) and not found.ok

    queued = refuse_reason(path)
    assert queued is not None and queued[0] == problem.value
    if problem is not SourceProblem.IS_DIRECTORY:  # a dropped folder is expanded first: one with no media is refused
        assert queued[1] == f"{path.name}: {found.cause}."

    with pytest.raises(MediaError) as probed:
        probe(path)
    assert probed.value.error_type == problem.value and str(probed.value) == f"{path}: {found.cause}"

    with RecordingServer() as backend, Journal.open(tmp_path / "journal.sqlite3") as journal:
        engine = UploadEngine(BackendClient(backend.url, "token"), journal)
        try:
            handle = engine.submit(path)
            with pytest.raises(UploadError) as uploaded:
                handle.result(5)
            assert uploaded.value.cause == found.cause and path.name in str(uploaded.value)
        finally:
            engine.shutdown()
        assert backend.received == []  # refused before a single request


def test_a_readable_file_passes_with_its_size(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"x" * 4096)
    assert check_source(path).ok and check_source(path).size == 4096 and refuse_reason(path) is None
