from __future__ import annotations

import base64
import hashlib
import math
import os
import tracemalloc
from pathlib import Path

import google_crc32c
import pytest
import requests

from app.core.transfer.checksums import ChecksumAlgorithm
from app.core.transfer.control import TransferCancelled, TransferControl, TransferPaused
from app.core.transfer.part_bodies import (
    BLOCK_SIZE,
    MAX_PIECE,
    FileScanner,
    PartBody,
    PartChecksum,
    SourceChangedError,
    checksum_range,
)
from app.core.transfer.planning import split
from app.core.transfer.progress import TransferTracker
from app.core.transfer.retry import BackoffPolicy, FailureKind, classify
from app.core.transfer.throttle import Throttle
from tests.core.transfer.clocks import FakeClock
from tests.support.faultproxy import FaultProxy
from tests.support.proxy_fixtures import proxy, server  # noqa: F401 (fixtures)
from tests.support.recording_server import RecordingServer

KiB = 1024
MiB = 1024 * KiB


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(os.urandom(12 * MiB + 5))
    return path


def md5(data: bytes) -> PartChecksum:
    return PartChecksum(hashlib.md5(data).digest())


def crc32c(data: bytes) -> PartChecksum:
    return PartChecksum(google_crc32c.value(data).to_bytes(4, "big"), ChecksumAlgorithm.CRC32C)


@pytest.mark.parametrize("algorithm, reference", [("crc32c", crc32c), ("md5", md5)])
def test_scanner_gives_each_part_checksum_in_order_and_the_whole_file_sha256(video: Path, algorithm, reference):
    data = video.read_bytes()
    plan = split(len(data), 5 * MiB)
    scanner = FileScanner(video, plan.parts, block_size=256 * KiB, algorithm=algorithm)
    with pytest.raises(RuntimeError):
        scanner.sha256_hex  # noqa: B018 - not known before the scan ran
    results = list(scanner)
    assert [part.number for part, _ in results] == [1, 2, 3]
    for part, checksum in results:
        assert checksum == reference(data[part.offset : part.end])
        assert checksum == checksum_range(video, part.offset, part.length, algorithm=algorithm)
    assert scanner.sha256_hex == hashlib.sha256(data).hexdigest()


def test_scanner_defaults_to_crc32c_which_s3_verifies_cheaply(video: Path):
    data = video.read_bytes()
    (_part, checksum), *_ = FileScanner(video, split(len(data), 5 * MiB).parts)
    assert checksum.algorithm is ChecksumAlgorithm.CRC32C
    assert checksum == crc32c(data[: 5 * MiB])
    assert checksum.sign_fields == {"checksum_crc32c": checksum.base64} and checksum.crc32c == checksum.base64


def test_scanner_refuses_a_file_whose_size_changed_and_gaps_in_parts(video: Path):
    plan = split(video.stat().st_size, 5 * MiB)
    with video.open("ab") as handle:
        handle.write(b"more")
    with pytest.raises(SourceChangedError, match=r"clip\.mp4"):
        list(FileScanner(video, plan.parts))
    with pytest.raises(ValueError, match="part 3"):
        FileScanner(video, [plan.parts[0], plan.parts[2]])


def test_checksum_forms():
    checksum = md5(b"hello")
    assert checksum.content_md5 == "XUFAKrxLKna5cZ2REBfFkg=="
    assert str(checksum) == "md5:XUFAKrxLKna5cZ2REBfFkg=="
    assert PartChecksum.parse(str(checksum)) == checksum
    assert checksum.matches_etag('"5d41402abc4b2a76b9719d911017c592"')
    with pytest.raises(ValueError):
        PartChecksum.parse("crc32c:abc")
    with pytest.raises(ValueError):
        PartChecksum.parse("sha1:AAAAAA==")
    assert checksum.sign_fields == {"content_md5": "XUFAKrxLKna5cZ2REBfFkg=="} and checksum.crc32c is None
    crc = crc32c(b"hello")
    assert str(crc) == "crc32c:mnG7TA==" and PartChecksum.parse(str(crc)) == crc
    assert crc.base64 == base64.b64encode(google_crc32c.value(b"hello").to_bytes(4, "big")).decode()
    assert not crc.matches_etag('"5d41402abc4b2a76b9719d911017c592"')
    with pytest.raises(ValueError):
        crc.content_md5  # noqa: B018 - an MD5 header cannot be made from a CRC


def test_body_is_sent_with_content_length_not_chunked(video: Path, server: RecordingServer):
    data = video.read_bytes()
    body = PartBody(video, 5 * MiB, 5 * MiB, block_size=MiB, algorithm="md5")
    headers = {"Content-MD5": md5(data[5 * MiB : 10 * MiB]).content_md5}
    response = requests.put(server.url + "/bucket/key?partNumber=2", data=body, headers=headers, timeout=30)
    assert response.status_code == 200
    received = server.received[-1]
    assert received.headers["Content-Length"] == str(5 * MiB)
    assert "Transfer-Encoding" not in received.headers
    assert received.body == data[5 * MiB : 10 * MiB]
    assert body.bytes_sent == 5 * MiB
    assert body.checksum == md5(received.body)
    assert body.checksum.matches_etag(response.headers["ETag"])


def test_blocks_are_bounded_so_memory_does_not_grow_with_the_part(tmp_path: Path):
    sparse = tmp_path / "sparse.bin"
    with sparse.open("wb") as handle:
        handle.truncate(96 * MiB)

    def peak_while_reading(length: int) -> int:
        body = PartBody(sparse, 0, length, block_size=BLOCK_SIZE)
        tracemalloc.start()
        try:
            total = 0
            for block in body:
                assert len(block) <= BLOCK_SIZE
                total += len(block)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            assert total == length

    small, large = peak_while_reading(8 * MiB), peak_while_reading(96 * MiB)
    assert large < 3 * BLOCK_SIZE
    assert large < small + BLOCK_SIZE


def test_a_body_is_single_use(video: Path):
    body = PartBody(video, 0, 10)
    assert len(body) == 10
    assert b"".join(body) == video.read_bytes()[:10]
    with pytest.raises(RuntimeError, match="already"):
        iter(body)


def test_throttle_and_progress_are_fed_block_by_block(video: Path):
    clock = FakeClock()
    throttle = Throttle(MiB, clock=clock)
    tracker = TransferTracker(clock=clock)
    tracker.add_file("clip", 12 * MiB + 5)
    sizes = []

    def on_bytes(nbytes: int) -> None:
        sizes.append(nbytes)
        tracker.record("clip", 1, nbytes)

    start = clock.now()
    body = PartBody(video, 0, 4 * MiB, block_size=128 * KiB, throttle=throttle, on_bytes=on_bytes)
    assert b"".join(body) == video.read_bytes()[: 4 * MiB]
    assert sizes == [128 * KiB] * 32
    assert throttle.granted_bytes == 4 * MiB
    assert clock.now() - start == pytest.approx(4.0, abs=1e-6)  # 4 MiB at 1 MiB/s on the shared clock
    assert tracker.file_snapshot("clip").done == 4 * MiB
    assert tracker.file_snapshot("clip").rate == pytest.approx(MiB, rel=0.05)


def test_a_low_limit_sends_a_block_in_bucket_sized_pieces(video: Path):
    clock = FakeClock()
    throttle = Throttle(64 * KiB, clock=clock)  # a 16 KiB bucket
    sizes = []
    body = PartBody(video, 0, 256 * KiB + 5, block_size=128 * KiB, throttle=throttle, on_bytes=sizes.append)
    start = clock.now()
    assert b"".join(body) == video.read_bytes()[: 256 * KiB + 5]
    assert sizes == [16 * KiB] * 16 + [5]
    assert clock.now() - start == pytest.approx((256 * KiB + 5) / (64 * KiB), abs=1e-6)
    assert body.checksum == crc32c(video.read_bytes()[: 256 * KiB + 5])


def test_cancel_stops_the_request_mid_body(video: Path, server: RecordingServer):
    control = TransferControl()
    sent = []

    def on_bytes(nbytes: int) -> None:
        sent.append(nbytes)
        if sum(sent) >= 2 * MiB:
            control.cancel()

    body = PartBody(video, 0, 10 * MiB, block_size=512 * KiB, on_bytes=on_bytes, control=control)
    with pytest.raises(TransferCancelled):
        requests.put(server.url + "/k", data=body, timeout=30)
    assert body.bytes_sent == 2 * MiB
    assert body.checksum is None
    assert all(item.status != 200 for item in server.received)


def test_pause_interrupts_and_a_new_body_goes_after_resume(video: Path, server: RecordingServer):
    control = TransferControl()
    control.pause()
    with pytest.raises(TransferPaused):
        requests.put(server.url + "/k", data=PartBody(video, 0, MiB, control=control), timeout=30)
    assert not control.wait_until_resumed(timeout=0.01)
    control.resume()
    assert control.wait_until_resumed(timeout=0.01)
    response = requests.put(server.url + "/k", data=PartBody(video, 0, MiB, control=control), timeout=30)
    assert response.status_code == 200


def test_a_file_changed_after_checksumming_is_caught_before_the_last_block(video: Path):
    expected = checksum_range(video, 0, 3 * MiB)
    with video.open("r+b") as handle:
        handle.seek(2 * MiB + 7)
        handle.write(b"edited")
    body = PartBody(video, 0, 3 * MiB, block_size=MiB, expected=expected)
    with pytest.raises(SourceChangedError, match=r"clip\.mp4 changed while uploading"):
        for _piece in body:
            pass
    assert body.bytes_sent == 2 * MiB  # the last block never left


def test_a_truncated_file_is_reported_with_its_name(video: Path):
    body = PartBody(video, 10 * MiB, 2 * MiB + 5)
    os.truncate(video, 11 * MiB)
    with pytest.raises(SourceChangedError, match=r"clip\.mp4 changed while uploading"):
        b"".join(body)


def upload_part(proxy: FaultProxy, video: Path, tracker: TransferTracker, attempts: list[PartBody]):
    """The engine's loop for one part, in miniature: a new body per attempt, progress rolled back."""
    data = video.read_bytes()
    checksum = md5(data[5 * MiB : 10 * MiB])

    def attempt() -> requests.Response:
        body = PartBody(video, 5 * MiB, 5 * MiB, on_bytes=tracker.part_sink("clip", 2), expected=checksum)
        attempts.append(body)
        headers = {"Content-MD5": checksum.content_md5}
        return requests.put(proxy.url + "/b/k?partNumber=2", data=body, headers=headers, timeout=30)

    return BackoffPolicy().call(
        attempt,
        describe="clip.mp4 part 2",
        on_retry=lambda failure, delay: tracker.rollback_part("clip", 2),
        sleep=lambda seconds: None,
    )


def test_a_flipped_byte_is_rejected_and_only_that_part_is_sent_again(video, proxy, server):
    tracker = TransferTracker()
    tracker.add_file("clip", 12 * MiB + 5)
    proxy.flip_byte(3 * MiB + 1)
    attempts: list[PartBody] = []
    response = upload_part(proxy, video, tracker, attempts)
    assert response.status_code == 200
    assert len(attempts) == 2
    assert [item.status for item in server.received] == [400, 200]
    assert server.received[-1].body == video.read_bytes()[5 * MiB : 10 * MiB]
    assert proxy.fired == {"flip": 1}
    assert tracker.file_snapshot("clip").done == 5 * MiB  # not 10: the rejected bytes were rolled back


def test_a_connection_cut_mid_part_is_retried(video, proxy, server):
    tracker = TransferTracker()
    tracker.add_file("clip", 12 * MiB + 5)
    proxy.cut_after(2 * MiB)
    attempts: list[PartBody] = []
    response = upload_part(proxy, video, tracker, attempts)
    assert response.status_code == 200
    assert len(attempts) == 2
    assert proxy.fired == {"cut": 1}
    assert [record.faults for record in proxy.requests] == [["cut"], []]
    assert [item.status for item in server.received if item.status == 200] == [200]
    assert server.received[-1].sha256 == hashlib.sha256(video.read_bytes()[5 * MiB : 10 * MiB]).hexdigest()
    assert tracker.file_snapshot("clip").done == 5 * MiB


def test_a_stalled_connection_fails_within_the_send_timeout_and_is_retryable(tmp_path, proxy):
    sparse = tmp_path / "big.bin"
    with sparse.open("wb") as handle:
        handle.truncate(64 * MiB)  # more than the loopback socket buffers can swallow
    proxy.stall(60)
    body = PartBody(sparse, 0, 64 * MiB)
    # urllib3 applies the *connect* timeout to each send of the body: a stalled link raises, never hangs.
    with pytest.raises(requests.ConnectionError) as stalled:
        requests.put(proxy.url + "/k", data=body, timeout=(0.5, 30))
    proxy.clear()
    assert classify(stalled.value).kind is FailureKind.RETRY
    assert body.bytes_sent < 64 * MiB
    assert math.isfinite(body.bytes_sent)


def test_pieces_are_small_views_so_a_slow_link_never_times_out_a_whole_block(video: Path):
    pieces = list(PartBody(video, 0, 2 * MiB + 5, block_size=MiB))
    assert [len(piece) for piece in pieces] == [MAX_PIECE] * 8 + [5]
    assert all(isinstance(piece, memoryview) for piece in pieces[:-1])
    assert b"".join(pieces) == video.read_bytes()[: 2 * MiB + 5]
