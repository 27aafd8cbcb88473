from __future__ import annotations

import random
import socket

import pytest
import requests

from app.core.logsafe import redact
from app.core.transfer.control import TransferCancelled, TransferControl, TransferPaused
from app.core.transfer.part_bodies import SourceChangedError
from app.core.transfer.retry import (
    BackoffPolicy,
    FailureKind,
    UploadFailed,
    classify,
    classify_exception,
)
from app.core.transfer.stall import StallDetected
from tests.support.faultproxy import EXPIRED_XML, INTERNAL_ERROR_XML, SLOW_DOWN_XML, FaultProxy
from tests.support.proxy_fixtures import proxy, server  # noqa: F401 (fixtures)
from tests.support.recording_server import RecordingServer

REQUEST_TIMEOUT_XML = (
    b"<Error><Code>RequestTimeout</Code><Message>Your socket connection to the server was not read"
    b" from or written to within the timeout period.</Message></Error>"
)
NO_SUCH_UPLOAD_XML = b"<Error><Code>NoSuchUpload</Code><Message>The upload does not exist.</Message></Error>"
ACCESS_DENIED_XML = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
# What `rclone serve s3` (1.75) answers a presigned URL past its expiry: 400, AccessDenied, XML-escaped words.
RCLONE_EXPIRED_XML = (
    b"<Error><Code>AccessDenied</Code><Message>The difference between the request time and the server&#39;s"
    b" time is too large.</Message></Error>"
)
SKEWED_XML = b"<Error><Code>RequestTimeTooSkewed</Code><Message>Too skewed.</Message></Error>"
SIGNATURE_XML = b"<Error><Code>SignatureDoesNotMatch</Code><Message>The signature &amp; the key</Message></Error>"


def put(proxy: FaultProxy, body: bytes = b"part", **kwargs) -> requests.Response:
    return requests.put(proxy.url + "/bucket/key?partNumber=1&uploadId=u", data=body, timeout=10, **kwargs)


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (503, SLOW_DOWN_XML, FailureKind.RETRY, "SlowDown"),
        (500, INTERNAL_ERROR_XML, FailureKind.RETRY, "InternalError"),
        (502, b"bad gateway", FailureKind.RETRY, None),
        (400, REQUEST_TIMEOUT_XML, FailureKind.RETRY, "RequestTimeout"),
        (429, b"", FailureKind.RETRY, None),
        (403, EXPIRED_XML, FailureKind.RESIGN, "AccessDenied"),
        (403, ACCESS_DENIED_XML, FailureKind.FATAL, "AccessDenied"),
        (400, RCLONE_EXPIRED_XML, FailureKind.RESIGN, "AccessDenied"),
        (403, SKEWED_XML, FailureKind.RESIGN, "RequestTimeTooSkewed"),
        (403, SIGNATURE_XML, FailureKind.RESIGN, "SignatureDoesNotMatch"),
        (404, NO_SUCH_UPLOAD_XML, FailureKind.FATAL, "NoSuchUpload"),
        (400, b"<Error><Code>InvalidArgument</Code></Error>", FailureKind.FATAL, "InvalidArgument"),
        (501, b"", FailureKind.FATAL, None),
    ],
)
def test_responses_are_classified(proxy: FaultProxy, status, body, kind, code):
    proxy.respond(status, body)
    failure = classify(put(proxy))
    assert (failure.kind, failure.status, failure.code) == (kind, status, code)
    assert str(status) in failure.reason


def test_a_stores_words_come_without_their_xml_escapes(proxy: FaultProxy):
    """Issue 15 item 6: "server&#39;s" reached the user's screen as written in the XML."""
    proxy.respond(400, RCLONE_EXPIRED_XML)
    failure = classify(put(proxy))
    assert "the server's time" in failure.reason and "&#39;" not in failure.reason, failure.reason
    proxy.respond(403, SIGNATURE_XML)
    assert "The signature & the key" in classify(put(proxy)).reason


def test_success_is_not_a_failure(proxy: FaultProxy):
    assert classify(put(proxy)) is None


def test_a_corrupted_part_is_rejected_and_retryable(proxy: FaultProxy):
    import base64
    import hashlib

    body = bytes(range(256)) * 64
    proxy.flip_byte(100)
    headers = {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}
    failure = classify(put(proxy, body, headers=headers))
    assert (failure.kind, failure.code) == (FailureKind.RETRY, "BadDigest")


def test_network_failures_are_retryable(proxy: FaultProxy):
    proxy.cut_after(10)
    with pytest.raises(requests.ConnectionError) as cut:
        put(proxy, b"x" * 100_000)
    assert classify(cut.value).kind is FailureKind.RETRY

    proxy.stall(30)
    with pytest.raises(requests.Timeout) as timeout:
        requests.get(proxy.url + "/bytes/10", timeout=(5, 0.3))
    proxy.clear()
    assert classify(timeout.value).kind is FailureKind.RETRY

    with socket.socket() as placeholder:  # a port nobody listens on
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    with pytest.raises(requests.ConnectionError) as refused:
        requests.get(f"http://127.0.0.1:{port}/", timeout=5)
    assert classify(refused.value).kind is FailureKind.RETRY
    assert classify(StallDetected("no data moved")).kind is FailureKind.RETRY


def test_local_and_tls_errors_are_fatal():
    assert classify_exception(FileNotFoundError(2, "No such file", "clip.mp4")).kind is FailureKind.FATAL
    assert classify_exception(requests.exceptions.SSLError("certificate verify failed")).kind is FailureKind.FATAL
    changed = classify_exception(SourceChangedError("/videos/clip.mp4 changed while uploading"))
    assert changed.kind is FailureKind.FATAL and "/videos/clip.mp4" in changed.reason


def test_failure_text_never_carries_a_signature_or_token():
    error = requests.ConnectionError(
        "HTTPConnectionPool(host='s3', port=80): Max retries exceeded with url: "
        "/b/k?partNumber=1&X-Amz-Credential=AKIA%2F&X-Amz-Signature=deadbeef (Caused by reset)"
    )
    reason = classify_exception(error).reason
    assert "X-Amz" not in reason and "deadbeef" not in reason
    assert "/b/k?" in reason
    assert "abc.def" not in redact("Authorization: Bearer abc.def")  # one redact for logs and reasons alike


def test_delay_is_full_jitter_and_capped():
    policy = BackoffPolicy(base_delay=0.5, max_delay=4.0)
    asked = []

    def rng(low: float, high: float) -> float:
        asked.append((low, high))
        return high

    assert [policy.delay(n, rng) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert all(low == 0.0 for low, _ in asked)
    seeded = random.Random(7)
    waits = [policy.delay(n, seeded.uniform) for n in range(1, 200)]
    assert all(0.0 <= wait <= 4.0 for wait in waits)
    assert len(set(waits)) == len(waits)  # jittered: no two waits alike


class Recorder:
    """Injected sleep and random source: records every wait and the range it was drawn from."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.ranges: list[tuple[float, float]] = []
        self._random = random.Random(1)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def rng(self, low: float, high: float) -> float:
        self.ranges.append((low, high))
        return self._random.uniform(low, high)


def test_two_slow_downs_then_success(proxy: FaultProxy, server: RecordingServer):
    proxy.slow_down(count=2)
    recorder = Recorder()
    policy = BackoffPolicy(max_attempts=5, base_delay=0.5, max_delay=20)
    retried = []
    response = policy.call(
        lambda: put(proxy, b"data"),
        describe="clip.mp4 part 1",
        on_retry=lambda failure, delay: retried.append((failure.code, delay)),
        sleep=recorder.sleep,
        rng=recorder.rng,
    )
    assert response.status_code == 200
    assert [code for code, _ in retried] == ["SlowDown", "SlowDown"]
    assert recorder.ranges == [(0.0, 0.5), (0.0, 1.0)]
    assert [delay for _, delay in retried] == recorder.sleeps
    assert all(0 <= wait <= high for wait, (_, high) in zip(recorder.sleeps, recorder.ranges, strict=True))
    assert len(server.received) == 1  # the two 503s never reached the server


def test_retries_are_bounded_and_every_wait_capped(proxy: FaultProxy):
    proxy.respond(500, INTERNAL_ERROR_XML, count=100)
    recorder = Recorder()
    policy = BackoffPolicy(max_attempts=6, base_delay=0.5, max_delay=1.0)
    with pytest.raises(UploadFailed) as failed:
        policy.call(lambda: put(proxy), describe="clip.mp4 part 3", sleep=recorder.sleep, rng=recorder.rng)
    assert failed.value.attempts == 6
    assert str(failed.value).startswith("clip.mp4 part 3: the storage service had a temporary error")
    assert "gave up after 6 attempts" in str(failed.value)
    assert recorder.ranges == [(0.0, 0.5)] + [(0.0, 1.0)] * 4
    assert all(wait <= 1.0 for wait in recorder.sleeps)


def test_a_fatal_answer_is_not_retried(proxy: FaultProxy):
    proxy.respond(404, NO_SUCH_UPLOAD_XML, count=5)
    recorder = Recorder()
    with pytest.raises(UploadFailed) as failed:
        BackoffPolicy().call(lambda: put(proxy), describe="clip.mp4 part 2", sleep=recorder.sleep)
    assert failed.value.attempts == 1
    assert failed.value.failure.code == "NoSuchUpload"
    assert recorder.sleeps == []
    assert str(failed.value) == (
        "clip.mp4 part 2: the storage service refused the request (HTTP 404 NoSuchUpload: The upload does not exist.)"
    )


def test_an_expired_url_is_resigned_then_sent_again(proxy: FaultProxy, server: RecordingServer):
    proxy.respond(403, EXPIRED_XML)
    recorder = Recorder()
    urls = ["/expired"]

    def resign(failure) -> None:
        assert failure.kind is FailureKind.RESIGN
        urls.append("/fresh")

    response = BackoffPolicy().call(
        lambda: requests.put(proxy.url + urls[-1], data=b"x", timeout=10),
        describe="clip.mp4 part 1",
        on_resign=resign,
        sleep=recorder.sleep,
        rng=recorder.rng,
    )
    assert response.status_code == 200
    assert urls == ["/expired", "/fresh"]
    assert [item.path for item in server.received] == ["/fresh"]
    assert recorder.ranges == []  # no backoff for a re-sign


def test_resigning_has_its_own_budget(proxy: FaultProxy):
    proxy.respond(403, EXPIRED_XML, count=10)
    resigns = []
    with pytest.raises(UploadFailed) as failed:
        BackoffPolicy(max_resigns=2).call(
            lambda: put(proxy), describe="clip.mp4 part 1", on_resign=resigns.append, sleep=Recorder().sleep
        )
    assert len(resigns) == 2
    assert failed.value.attempts == 3
    assert failed.value.failure.kind is FailureKind.RESIGN


def test_a_failed_resign_is_retried_with_backoff(proxy: FaultProxy):
    proxy.respond(403, EXPIRED_XML)
    calls = []

    def flaky_resign(failure) -> None:
        calls.append(failure.kind)
        if len(calls) == 1:
            raise requests.ConnectionError("backend unreachable")

    recorder = Recorder()
    response = BackoffPolicy().call(
        lambda: put(proxy), describe="p", on_resign=flaky_resign, sleep=recorder.sleep, rng=recorder.rng
    )
    assert response.status_code == 200
    assert calls == [FailureKind.RESIGN, FailureKind.RETRY]  # re-signed again after the failed try
    assert recorder.ranges == [(0.0, 0.5)]


def test_cancel_cuts_a_backoff_wait_short(proxy: FaultProxy):
    proxy.slow_down(count=5)
    control = TransferControl()
    policy = BackoffPolicy(base_delay=3600, max_delay=3600)  # an uncancellable wait would hang the test
    with pytest.raises(TransferCancelled):
        policy.call(
            lambda: put(proxy),
            describe="p",
            control=control,
            on_retry=lambda failure, delay: control.cancel(),
            rng=lambda low, high: high,
        )


def test_pause_passes_straight_through():
    calls = []

    def attempt():
        calls.append(1)
        raise TransferPaused("paused")

    with pytest.raises(TransferPaused):
        BackoffPolicy().call(attempt, describe="p", sleep=Recorder().sleep)
    assert calls == [1]
