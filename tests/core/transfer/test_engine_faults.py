"""The upload engine against a real backend and moto's S3 over HTTP, with faults injected on the way:
RELIABILITY.md tests 1, 3, 4, 5, 6, 7 and 10.

S3's 5 MiB minimum part is real, so "part 37 of 80" (400 MiB) becomes "part 5 of 8" (~38 MiB): the same
fault in the middle of a multipart upload, at a size CI can afford.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.api import BackendClient
from app.core.transfer.engine import UploadEngine
from app.core.transfer.handle import UploadCancelled, UploadError, UploadStatus, integrity_summary
from app.core.transfer.journal import Journal, UploadState
from app.core.transfer.retry import BackoffPolicy
from tests.support.faultproxy import EXPIRED_XML
from tests.support.files import random_file
from tests.support.servers import User, reeldrop_server
from tests.support.upload_stack import (
    MiB,
    UploadStack,
    multipart_uploads_left,
    part_match,
    stored_sha256,
    upload_status,
)
from tests.support.waiting import wait_until

ACCESS_DENIED_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message><RequestId>FAULTPROXY</RequestId></Error>"
)
RESULT_TIMEOUT = 60


def video(tmp_path: Path, name: str, size: int) -> tuple[Path, str]:
    path = tmp_path / name
    return path, random_file(path, size)


def test_a_connection_cut_mid_part_resends_only_that_part(faults: UploadStack, uploader: User, make_engine, tmp_path):
    path, digest = video(tmp_path, "cut.mp4", 37 * MiB + 123)  # 8 parts of 5 MiB, the last one short
    faults.proxy.cut_after(2 * MiB, match=part_match(5))
    result = make_engine().submit(path).result(RESULT_TIMEOUT)
    assert faults.proxy.fired == {"cut": 1}
    assert faults.part_puts("cut.mp4") == {n: (2 if n == 5 else 1) for n in range(1, 9)}
    assert faults.part_faults("cut.mp4", 5) == [["cut"], []]
    assert result.part_count == 8 and result.sha256 == digest
    assert stored_sha256(uploader, result.upload_id) == digest
    assert path.stat().st_size < result.bytes_sent <= path.stat().st_size + 5 * MiB  # one part again, no more


def test_an_expired_url_is_resigned_for_that_part_and_sent_again(faults, uploader, make_engine, tmp_path):
    signed_for: list[list[int]] = []

    class SpyClient(BackendClient):
        def sign_parts(self, upload_id, parts):
            signed_for.append(sorted(parts))
            return super().sign_parts(upload_id, parts)

    path, digest = video(tmp_path, "expired.mp4", 16 * MiB)
    faults.proxy.respond(403, EXPIRED_XML, match=part_match(3))
    engine = make_engine(SpyClient(uploader.base_url, uploader.token))
    result = engine.submit(path).result(RESULT_TIMEOUT)
    assert faults.proxy.fired == {"respond 403": 1}
    assert faults.part_puts("expired.mp4")[3] == 2
    assert [batch for batch in signed_for if batch == [3]] == [[3]]  # re-signed alone, once
    assert sum(batch.count(3) for batch in signed_for) == 2
    assert stored_sha256(uploader, result.upload_id) == digest


@pytest.mark.parametrize("etag", [None, '"9e107d9d372bb6826bd81d'], ids=["no ETag", "a cut ETag"])
def test_an_answer_without_a_usable_etag_sends_that_part_again(faults, uploader, make_engine, tmp_path, etag):
    """Issue 15 item 11: a connection cut inside the answer's head reads as a 200 with no ETag (or part of
    one); that aborted the whole multipart upload. Now it is a retryable failure of that part."""
    path, digest = video(tmp_path, "no-etag.mp4", 16 * MiB)
    faults.proxy.respond(200, b"", match=part_match(2), headers={"ETag": etag} if etag else None)
    result = make_engine().submit(path).result(RESULT_TIMEOUT)
    assert faults.proxy.fired == {"respond 200": 1}
    assert faults.part_puts("no-etag.mp4") == {1: 1, 2: 2, 3: 1, 4: 1}
    assert stored_sha256(uploader, result.upload_id) == digest


def test_the_result_says_which_integrity_check_the_store_confirmed(
    faults, uploader, make_engine, s3_endpoint, tmp_path
):
    """Issue 15 item 8: a store may take the CRC32C header without checking it (moto, s3rver, rclone), and
    nothing said so. The result now names what the store's answers confirmed, part by part."""
    path, digest = video(tmp_path, "checked.mp4", 16 * MiB)
    result = make_engine().submit(path).result(RESULT_TIMEOUT)  # the stack checks CRC32C and echoes it, as S3
    assert stored_sha256(uploader, result.upload_id) == digest
    assert result.integrity == "CRC32C of every part sent, confirmed by the store; size checked at complete"
    with reeldrop_server(s3_endpoint, tmp_path / "bare", env={"S3_MULTIPART_THRESHOLD": str(6 * MiB)}) as bare:
        user = bare.add_user()  # moto itself: it takes the header, checks nothing and echoes nothing
        with Journal.open(tmp_path / "bare.sqlite3") as journal:
            engine = UploadEngine(BackendClient(user.base_url, user.token), journal, part_size=5 * MiB)
            try:
                unchecked = engine.submit(path).result(RESULT_TIMEOUT)
            finally:
                engine.shutdown()
    assert unchecked.integrity.startswith("the store confirmed no part's checksum"), unchecked.integrity


def test_a_store_echoing_another_crc32c_gets_the_part_again(faults, uploader, make_engine, tmp_path):
    """Where the store echoes a part's CRC32C, one other than the one sent means other bytes are stored."""
    path, digest = video(tmp_path, "echo.mp4", 16 * MiB)
    stored_other = {"ETag": '"9e107d9d372bb6826bd81d3542a419d6"', "x-amz-checksum-crc32c": "AAAAAA=="}
    faults.proxy.respond(200, b"", match=part_match(2), headers=stored_other)
    result = make_engine().submit(path).result(RESULT_TIMEOUT)
    assert faults.proxy.fired == {"respond 200": 1}
    assert faults.part_puts("echo.mp4") == {1: 1, 2: 2, 3: 1, 4: 1}
    assert stored_sha256(uploader, result.upload_id) == digest


def test_slow_down_twice_then_success_waits_capped_and_jittered(faults, uploader, make_engine, tmp_path):
    ranges: list[tuple[float, float]] = []
    waits: list[float] = []

    def rng(low: float, high: float) -> float:
        ranges.append((low, high))
        return high * 0.5  # a known point inside the jitter range

    path, digest = video(tmp_path, "slow.mp4", 12 * MiB)
    faults.proxy.slow_down(count=2, match=part_match(2))
    policy = BackoffPolicy(max_attempts=5, base_delay=0.2, max_delay=0.3)
    engine = make_engine(policy=policy, sleep=waits.append, rng=rng)
    result = engine.submit(path).result(RESULT_TIMEOUT)
    assert faults.proxy.fired == {"respond 503": 2}
    assert faults.part_puts("slow.mp4")[2] == 3
    assert ranges == [(0.0, 0.2), (0.0, 0.3)]  # full jitter from 0; the second wait capped (0.4 -> 0.3)
    assert waits == [0.1, 0.15]
    assert stored_sha256(uploader, result.upload_id) == digest


def test_a_refused_part_fails_the_file_at_once_with_a_clear_message(faults, uploader, make_engine, journal, tmp_path):
    denied, _ = video(tmp_path, "denied.mp4", 12 * MiB)
    small, small_digest = video(tmp_path, "fine.mp4", 2 * MiB)  # one presigned POST: no parts to match
    faults.proxy.respond(403, ACCESS_DENIED_XML, count=10, match=part_match(2))
    engine = make_engine()
    bad, good = engine.submit(denied), engine.submit(small)
    with pytest.raises(UploadError) as failed:
        bad.result(RESULT_TIMEOUT)
    message = str(failed.value)
    assert "denied.mp4" in message and "AccessDenied" in message and "403" in message
    assert "X-Amz-" not in message and "?" not in message.split("denied.mp4", 1)[1]
    assert faults.proxy.fired == {"respond 403": 1}  # no retry loop
    assert bad.state is UploadStatus.FAILED and bad.error == message
    assert upload_status(uploader, bad.upload_id) == "aborted"
    assert journal.get(bad.upload_id).state is UploadState.FAILED
    assert good.result(RESULT_TIMEOUT).sha256 == small_digest  # the other file was not stopped


def test_a_flipped_byte_is_rejected_by_the_checksum_and_only_that_part_retried(faults, uploader, make_engine, tmp_path):
    path, digest = video(tmp_path, "flip.mp4", 23 * MiB)
    faults.proxy.flip_byte(1000, match=part_match(4))
    result = make_engine().submit(path).result(RESULT_TIMEOUT)
    assert faults.proxy.fired == {"flip": 1}
    assert [(item.method, item.header) for item in faults.verifier.rejected] == [("PUT", "x-amz-checksum-crc32c")]
    assert faults.part_puts("flip.mp4") == {1: 1, 2: 1, 3: 1, 4: 2, 5: 1}
    assert stored_sha256(uploader, result.upload_id) == digest == result.sha256


def test_cancel_aborts_the_multipart_upload_and_leaves_nothing(faults, uploader, make_engine, journal, tmp_path):
    path, _ = video(tmp_path, "cancel.mp4", 30 * MiB)
    engine = make_engine(bandwidth_limit=8 * MiB)
    handle = engine.submit(path)
    wait_until(lambda: handle.upload_id and len(journal.get(handle.upload_id).parts) >= 1, timeout=30)
    handle.cancel()
    with pytest.raises(UploadCancelled, match=r"cancel\.mp4"):
        handle.result(RESULT_TIMEOUT)
    assert handle.state is UploadStatus.CANCELLED
    assert upload_status(uploader, handle.upload_id) == "aborted"
    entry = journal.get(handle.upload_id)
    assert entry.state is UploadState.ABORTED
    assert multipart_uploads_left(faults.server, entry.s3_key) == []
    assert engine.snapshot().file(handle.file_id) is None


def test_a_stalled_part_is_detected_and_retried_without_hanging(faults, uploader, make_engine, tmp_path):
    path, digest = video(tmp_path, "stall.mp4", 12 * MiB)
    faults.proxy.stall(120, after_bytes=256 * 1024, match=part_match(2))
    engine = make_engine(stall_timeout=1.5)
    result = engine.submit(path).result(RESULT_TIMEOUT)  # long before the 120 s stall would end
    assert faults.proxy.fired.get("stall") == 1
    attempts = faults.part_faults("stall.mp4", 2)
    assert attempts[0] == ["stall"] and len(attempts) >= 2
    assert stored_sha256(uploader, result.upload_id) == digest


def test_resumed_parts_are_cross_checked_with_list_parts(faults, uploader, make_engine, journal, tmp_path):
    path, digest = video(tmp_path, "cross.mp4", 23 * MiB)  # 5 parts
    first = make_engine(bandwidth_limit=8 * MiB, concurrency=1)
    handle = first.submit(path)
    wait_until(lambda: handle.upload_id and len(journal.get(handle.upload_id).parts) >= 2, timeout=30)
    first.shutdown()
    assert handle.state is UploadStatus.INTERRUPTED and "resume" in handle.error
    entry = journal.get(handle.upload_id)
    assert entry.state is UploadState.UPLOADING
    kept = sorted(entry.finished_part_numbers)
    # A part the journal claims but S3 never got (say, a journal restored from a backup): sent again.
    phantom = max(set(range(1, 6)) - set(kept))
    journal.record_part(entry.upload_id, phantom, etag='"0123"', size=5 * MiB, checksum="crc32c:AAAAAA==")
    faults.reset()
    (resumed,) = make_engine().resume_unfinished()  # what the app does at launch
    assert resumed.path == Path(entry.path)
    result = resumed.result(RESULT_TIMEOUT)
    assert result.upload_id == entry.upload_id
    assert result.parts_reused == len(kept)
    assert sorted(faults.part_puts("cross.mp4")) == sorted(set(range(1, 6)) - set(kept))
    assert result.bytes_sent < path.stat().st_size
    assert stored_sha256(uploader, result.upload_id) == digest


def test_journal_stays_consistent_with_the_server_after_each_part(faults, uploader, make_engine, journal, tmp_path):
    path, _ = video(tmp_path, "ledger.mp4", 17 * MiB)
    result = make_engine().submit(path).result(RESULT_TIMEOUT)
    entry = journal.get(result.upload_id)
    assert entry.state is UploadState.COMPLETED and entry.sha256 == result.sha256
    assert [part.number for part in entry.parts] == [1, 2, 3, 4]
    assert all(part.checksum.startswith("crc32c:") for part in entry.parts)


@pytest.mark.parametrize(
    ("confirmed", "parts", "reused", "words"),
    [
        ({"CRC32C": 4}, 4, 0, "CRC32C of every part sent, confirmed by the store; size checked at complete"),
        ({"CRC32C": 3, "ETag-MD5": 1}, 4, 0, "every part sent confirmed by the store (3 by CRC32C, 1 by ETag-MD5)"),
        ({"CRC32C": 2}, 4, 0, "2 of 4 parts sent confirmed by the store (2 by CRC32C), the rest by size only"),
        ({}, 4, 0, "the store confirmed no part's checksum"),
        ({"CRC32C": 2}, 4, 2, "CRC32C of every part sent, confirmed by the store; 2 stored by an earlier run"),
        ({}, 4, 4, "all 4 parts stored by an earlier run"),
    ],
)
def test_the_integrity_words(confirmed: dict[str, int], parts: int, reused: int, words: str) -> None:
    assert integrity_summary(confirmed, parts, reused).startswith(words)
