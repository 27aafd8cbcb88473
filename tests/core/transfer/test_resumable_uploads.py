"""Every file resumes (issue 12.4): against a backend with the default 100 MiB POST threshold, the engine
asks for parts above 16 MiB (eight of them when it chooses the part size), so a 39 MB upload interrupted
after a few parts sends only the missing ones on the next run; a server that predates ``resumable`` still
answers POST, and the file still goes up.

The real upload stack (backend, FaultProxy recording every S3 request, moto's S3 server), with the engine
shut down mid-file as a quit does (the journal keeps the upload for the next run).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from app.core.api import BackendClient
from app.core.transfer.handle import UploadHandle, UploadStatus
from app.core.transfer.journal import Journal, UploadState
from app.core.transfer.planning import (
    DEFAULT_PART_SIZE,
    MIN_PART_SIZE,
    RESUMABLE_PART_COUNT,
    GiB,
    part_size_to_resume,
    split,
)
from app.core.transfer.resume import RESUMABLE_UPLOAD_ABOVE
from tests.support.files import random_file
from tests.support.upload_stack import MiB, UploadStack, stored_sha256, upload_stack
from tests.support.waiting import wait_until

RESULT_TIMEOUT = 120
THIRTY_NINE_MB = 39_000_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UploadStack]:
    """Overrides the conftest's stack: this one keeps the server's default POST threshold."""
    with upload_stack(
        tmp_path_factory.mktemp("default-threshold"), env={"S3_MULTIPART_THRESHOLD": str(100 * MiB)}
    ) as running:
        assert running.server.services.config.multipart_threshold == 100 * MiB
        yield running


class ServerThatPredatesResumable(BackendClient):
    """What an older server sees: the same request without ``resumable`` (which it would ignore)."""

    def presign(self, *args: Any, resumable: bool = False, **kw: Any) -> dict[str, Any]:
        return super().presign(*args, **kw)


def _stopped_after_some_parts(journal: Journal, handle: UploadHandle, engine: Any) -> bool:
    """Two parts journaled, or (a single POST, which journals none) 20 MB on the wire."""
    entry = journal.get(handle.upload_id) if handle.upload_id else None
    if entry is not None and len(entry.parts) >= 2:
        return True
    return engine.snapshot().file(handle.file_id).done >= 20 * MiB


def test_a_39_mb_upload_cut_after_some_parts_sends_only_the_missing_ones(
    faults, uploader, make_engine, journal, tmp_path
):
    path = tmp_path / "interrupted.mp4"
    digest = random_file(path, THIRTY_NINE_MB)
    assert THIRTY_NINE_MB > RESUMABLE_UPLOAD_ABOVE
    first = make_engine(bandwidth_limit=10 * MiB, concurrency=2)  # 5 MiB parts: 8 of them
    handle = first.submit(path)
    wait_until(lambda: _stopped_after_some_parts(journal, handle, first), timeout=60, what="a few parts sent")
    first.shutdown()  # what Ctrl+Q does to the engine
    assert handle.state is UploadStatus.INTERRUPTED
    old = journal.get(handle.upload_id)
    assert old.state is UploadState.UPLOADING
    assert old.part_size > 0, "the 39 MB file went up as one POST: nothing of it can resume"
    kept = old.finished_part_numbers
    kept_bytes = sum(part.size for part in old.parts)
    assert 2 <= len(kept) < 8
    puts_before = faults.part_puts("interrupted.mp4")

    result = make_engine().submit(path).result(RESULT_TIMEOUT)

    assert result.upload_id == old.upload_id and result.method == "MULTIPART" and result.part_count == 8
    assert result.parts_reused == len(kept) and result.bytes_reused == kept_bytes
    assert result.bytes_sent == THIRTY_NINE_MB - kept_bytes  # the missing parts, once each
    puts_after = faults.part_puts("interrupted.mp4") - puts_before
    assert set(puts_after) == set(range(1, 9)) - kept and max(puts_after.values()) == 1
    assert result.sha256 == digest == stored_sha256(uploader, result.upload_id)
    assert journal.get(result.upload_id).state is UploadState.COMPLETED


def test_automatic_parts_cut_a_39_mb_file_in_eight_and_leave_large_files_alone():
    assert part_size_to_resume(THIRTY_NINE_MB) == MIN_PART_SIZE  # 8 parts: S3's minimum part
    assert split(100 * MiB, part_size_to_resume(100 * MiB)).part_count == RESUMABLE_PART_COUNT
    assert part_size_to_resume(GiB) == DEFAULT_PART_SIZE


def test_with_automatic_parts_the_engine_asks_for_eight_of_them(faults, uploader, make_engine, tmp_path):
    path = tmp_path / "auto.mp4"
    digest = random_file(path, THIRTY_NINE_MB)
    result = make_engine(part_size=None, concurrency=4).submit(path).result(RESULT_TIMEOUT)
    assert result.method == "MULTIPART" and result.part_count == 8
    assert set(faults.part_puts("auto.mp4")) == set(range(1, 9))
    assert result.sha256 == digest == stored_sha256(uploader, result.upload_id)


def test_a_file_of_one_or_two_parts_still_goes_in_one_post(faults, make_engine, tmp_path):
    path = tmp_path / "short.mp4"
    digest = random_file(path, RESUMABLE_UPLOAD_ABOVE)
    result = make_engine().submit(path).result(RESULT_TIMEOUT)
    assert result.method == "POST" and result.sha256 == digest
    assert faults.part_puts("short.mp4") == Counter()


def test_a_server_that_ignores_resumable_answers_post_and_the_upload_still_works(
    faults, uploader, make_engine, tmp_path
):
    path = tmp_path / "older-server.mp4"
    digest = random_file(path, THIRTY_NINE_MB)
    client = ServerThatPredatesResumable(uploader.base_url, uploader.token)
    result = make_engine(client).submit(path).result(RESULT_TIMEOUT)
    assert result.method == "POST" and result.part_count == 1
    assert result.sha256 == digest == stored_sha256(uploader, result.upload_id)
