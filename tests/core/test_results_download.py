"""Results ZIP downloads over real HTTP (RELIABILITY.md test 16): moto's S3 server behind presigned GETs.

A download killed (SIGKILL) at 60 % resumes with Range + If-Range from the bytes on disk; an object that
changed in between is downloaded again from zero; an expired URL is replaced; the final SHA-256 must be the
server's. A small standard-library HTTP server that honours If-Range the way AWS S3 does (moto ignores it)
covers the "200 instead of 206" answer and a connection cut in the middle of the body.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import requests

from app.core.results.download import ResultsDownloader, ResultsDownloadError, ResultsIntegrityError
from app.core.results.extract import extract_results
from app.core.results.partial import load_state, part_path, sidecar_path
from app.core.results.resume import Answer, judge_answer
from app.core.transfer.control import TransferCancelled, TransferControl, TransferPaused
from app.core.transfer.progress import FileProgress
from tests.support.faultproxy import EXPIRED_XML, FaultProxy
from tests.support.servers import TEST_ACCESS_KEY, TEST_SECRET_KEY

MiB = 1024 * 1024
REPO = Path(__file__).resolve().parents[2]


def results_zip(seed: int, size: int = 3 * MiB) -> bytes:
    """A real results ZIP: a report and an incompressible 'video'."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("report.json", f'{{"seed": {seed}}}')
        archive.writestr("clips/clip-1.mp4", secrets.token_bytes(size))
    return buffer.getvalue()


def figures(data: bytes) -> dict[str, Any]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@dataclass
class Bucket:
    endpoint: str
    name: str

    def client(self, endpoint: str | None = None) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=endpoint or self.endpoint,
            aws_access_key_id=TEST_ACCESS_KEY,
            aws_secret_access_key=TEST_SECRET_KEY,
            region_name="us-east-1",
        )

    def put(self, key: str, data: bytes) -> None:
        self.client().put_object(Bucket=self.name, Key=key, Body=data, ContentType="application/zip")

    def presign(self, key: str, endpoint: str | None = None) -> str:
        params = {"Bucket": self.name, "Key": key}
        return self.client(endpoint).generate_presigned_url("get_object", Params=params, ExpiresIn=600)


@dataclass
class Server:
    """What the ReelDrop backend's GET /api/jobs/{id}/results/url does: sign a GET, state size and hash."""

    bucket: Bucket
    key: str
    data: bytes
    endpoint: str | None = None
    calls: int = 0
    stale_first: bytes | None = None  # answer with these (old) figures once, as if read just before a change

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        data = self.data
        if self.stale_first is not None:
            data, self.stale_first = self.stale_first, None
        return {"url": self.bucket.presign(self.key, self.endpoint), "expires_in": 600, **figures(data)}


@pytest.fixture(scope="module")
def bucket(s3_endpoint: str) -> Bucket:
    found = Bucket(s3_endpoint, f"results-{secrets.token_hex(4)}")
    found.client().create_bucket(Bucket=found.name)
    return found


def watching_session() -> tuple[requests.Session, list[requests.PreparedRequest]]:
    """A session that remembers each request it sent (to check Range and If-Range)."""
    session, sent = requests.Session(), []
    session.hooks["response"].append(lambda response, *args, **kwargs: sent.append(response.request))
    return session, sent


def stop_at(fraction: float, control: TransferControl, how: str = "pause") -> Any:
    def on_progress(progress: FileProgress) -> None:
        if progress.done >= fraction * progress.total:
            getattr(control, how)()

    return on_progress


def leftovers(destination: Path) -> list[Path]:
    return [path for path in (part_path(destination), sidecar_path(destination)) if path.exists()]


CHILD = """
import os, signal, sys
from app.core.results.download import ResultsDownloader
url, size, sha, destination = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def on_progress(progress):
    if progress.done >= 0.6 * progress.total:
        os.kill(os.getpid(), signal.SIGKILL)
ResultsDownloader(lambda: {"url": url, "size": size, "sha256": sha}, destination,
                  on_progress=on_progress, chunk_size=64 * 1024).run()
"""


def test_killed_at_60_percent_resumes_with_range_and_if_range(bucket: Bucket, tmp_path: Path) -> None:
    data = results_zip(1)
    bucket.put("results/kill.zip", data)
    server = Server(bucket, "results/kill.zip", data)
    destination = tmp_path / "results.zip"
    answer = server()
    child = subprocess.run(
        [sys.executable, "-c", CHILD, answer["url"], str(answer["size"]), answer["sha256"], str(destination)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    on_disk = part_path(destination).stat().st_size
    assert 0.5 * len(data) < on_disk < len(data) and not destination.exists()
    state = load_state(destination)
    assert state is not None and state.sha256 == answer["sha256"] and state.etag

    session, sent = watching_session()
    result = ResultsDownloader(server, destination, session=session).run()
    assert sent[0].headers["Range"] == f"bytes={on_disk}-" and sent[0].headers["If-Range"] == state.etag
    assert result.resumed_from == on_disk and result.bytes_received == len(data) - on_disk
    assert result.restarts == 0 and result.sha256 == hashlib.sha256(data).hexdigest()
    assert destination.read_bytes() == data and leftovers(destination) == []
    extracted = extract_results(destination, tmp_path / "out")
    assert set(extracted.files) == {"report.json", "clips/clip-1.mp4"}


def test_an_object_changed_since_the_pause_is_downloaded_again(bucket: Bucket, tmp_path: Path) -> None:
    old, new = results_zip(2), results_zip(3)
    bucket.put("results/changed.zip", old)
    server = Server(bucket, "results/changed.zip", old)
    destination = tmp_path / "results.zip"
    control = TransferControl()
    with pytest.raises(TransferPaused):
        ResultsDownloader(server, destination, control=control, on_progress=stop_at(0.6, control)).run()
    assert part_path(destination).stat().st_size >= 0.6 * len(old)

    bucket.put("results/changed.zip", new)  # a re-run of the job: the server now announces other figures
    server.data = new
    session, sent = watching_session()
    result = ResultsDownloader(server, destination, session=session).run()
    assert "Range" not in sent[0].headers  # the bytes of the old ZIP were not resumed
    assert result.resumed_from == 0 and result.restarts == 1 and result.bytes_received == len(new)
    assert destination.read_bytes() == new and leftovers(destination) == []


def test_a_store_ignoring_if_range_is_caught_by_the_etag(bucket: Bucket, tmp_path: Path) -> None:
    old, new = results_zip(4), results_zip(5)
    bucket.put("results/race.zip", old)
    server = Server(bucket, "results/race.zip", old)
    destination = tmp_path / "results.zip"
    control = TransferControl()
    with pytest.raises(TransferPaused):
        ResultsDownloader(server, destination, control=control, on_progress=stop_at(0.6, control)).run()
    bucket.put("results/race.zip", new)
    server.data, server.stale_first = new, old  # the first answer still describes the old ZIP
    session, sent = watching_session()
    result = ResultsDownloader(server, destination, session=session).run()
    # moto answers 206 with the new object's ETag: the partial bytes are dropped, the new ZIP fetched whole
    assert sent[0].headers.get("If-Range") and sent[0].headers.get("Range")
    assert "Range" not in sent[1].headers
    assert result.restarts == 1 and result.bytes_received == len(new)  # nothing of the stale tail was kept
    assert result.sha256 == hashlib.sha256(new).hexdigest()
    assert destination.read_bytes() == new and leftovers(destination) == []


def test_a_wrong_hash_is_an_error_and_the_bad_file_is_removed(bucket: Bucket, tmp_path: Path) -> None:
    data = results_zip(6, size=256 * 1024)
    bucket.put("results/bad.zip", data)
    url = bucket.presign("results/bad.zip")
    destination = tmp_path / "results.zip"
    wrong = {"url": url, "size": len(data), "sha256": "0" * 64}
    with pytest.raises(ResultsIntegrityError) as caught:
        ResultsDownloader(lambda: wrong, destination).run()
    message = str(caught.value)
    assert str(destination) in message and "SHA-256" in message and "X-Amz" not in message
    assert not destination.exists() and leftovers(destination) == []


def test_an_expired_url_is_replaced_and_the_download_goes_on(
    bucket: Bucket, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="app")
    data = results_zip(7)
    bucket.put("results/expired.zip", data)
    destination = tmp_path / "results.zip"
    control = TransferControl()
    with pytest.raises(TransferPaused):
        server = Server(bucket, "results/expired.zip", data)
        ResultsDownloader(server, destination, control=control, on_progress=stop_at(0.4, control)).run()
    done = part_path(destination).stat().st_size
    host, port = urlsplit(bucket.endpoint).hostname, urlsplit(bucket.endpoint).port
    with FaultProxy((host or "127.0.0.1", port or 80)) as proxy:
        proxy.respond(403, EXPIRED_XML, count=1)  # what S3 answers once the URL's lifetime is over
        server = Server(bucket, "results/expired.zip", data, endpoint=proxy.url)
        result = ResultsDownloader(server, destination).run()
        assert proxy.fired == {"respond 403": 1} and len(proxy.requests) == 2
    assert server.calls == 2 and result.url_refreshes == 1 and result.resumed_from == done
    assert destination.read_bytes() == data
    assert "X-Amz-Signature" not in caplog.text and "X-Amz-Credential" not in caplog.text


def test_cancel_removes_the_partial_and_a_finished_file_is_not_fetched_again(bucket: Bucket, tmp_path: Path) -> None:
    data = results_zip(8)
    bucket.put("results/cancel.zip", data)
    server = Server(bucket, "results/cancel.zip", data)
    destination = tmp_path / "results.zip"
    control = TransferControl()
    with pytest.raises(TransferCancelled):
        ResultsDownloader(server, destination, control=control, on_progress=stop_at(0.3, control, "cancel")).run()
    assert leftovers(destination) == [] and not destination.exists()
    first = ResultsDownloader(server, destination).run()
    session, sent = watching_session()
    again = ResultsDownloader(server, destination, session=session).run()
    assert first.bytes_received == len(data) and again.already_present and sent == []


# -- a server that honours If-Range like AWS S3, and can cut a body short --------------------------------
@dataclass
class Resource:
    data: bytes
    etag: str
    cut_after: int | None = None  # send only this many body bytes of the next answer, then drop the link
    range_status: int = 206  # what a ranged answer says: 206, or 200 (with its Content-Range, as rclone)
    seen: list[dict[str, str]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    resource: Resource

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        resource = self.server.resource  # type: ignore[attr-defined]
        resource.seen.append(dict(self.headers))
        data, start = resource.data, 0
        wanted, if_range = self.headers.get("Range"), self.headers.get("If-Range")
        if wanted and (if_range is None or if_range == resource.etag):
            start = int(wanted.removeprefix("bytes=").rstrip("-"))
        self.send_response(resource.range_status if start else 200)
        self.send_header("ETag", resource.etag)
        self.send_header("Content-Length", str(len(data) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        body = data[start:]
        if resource.cut_after is not None:
            body, resource.cut_after = body[: resource.cut_after], None
            self.close_connection = True
        self.wfile.write(body)


@pytest.fixture
def origin() -> Iterator[tuple[str, Resource]]:
    resource = Resource(results_zip(9), '"v1"')
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.resource = resource  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/results.zip?X-Amz-Signature=secret", resource
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def test_a_cut_connection_resumes_within_the_same_run(origin: tuple[str, Resource], tmp_path: Path) -> None:
    url, resource = origin
    resource.cut_after = len(resource.data) * 6 // 10
    destination = tmp_path / "results.zip"
    result = ResultsDownloader(lambda: {"url": url, **figures(resource.data)}, destination, sleep=lambda s: None).run()
    assert len(resource.seen) == 2 and "Range" not in resource.seen[0]
    first_cut = len(resource.data) * 6 // 10
    assert resource.seen[1]["Range"] == f"bytes={first_cut}-" and resource.seen[1]["If-Range"] == '"v1"'
    assert result.bytes_received == len(resource.data) and destination.read_bytes() == resource.data


def test_a_range_answered_200_with_its_content_range_is_appended(origin: tuple[str, Resource], tmp_path: Path) -> None:
    """Issue 15 item 5: `rclone serve s3` answers a Range GET with 200 and the range's Content-Range. That
    was taken for the whole object: the download swung between offsets, gave up after 8 attempts and kept a
    part file that failed every later run. The body is the asked range: it is appended."""
    url, resource = origin
    resource.cut_after, resource.range_status = len(resource.data) * 6 // 10, 200
    destination = tmp_path / "results.zip"
    result = ResultsDownloader(lambda: {"url": url, **figures(resource.data)}, destination, sleep=lambda s: None).run()
    assert len(resource.seen) == 2 and resource.seen[1]["Range"] == f"bytes={len(resource.data) * 6 // 10}-"
    assert result.restarts == 0 and result.bytes_received == len(resource.data)
    assert destination.read_bytes() == resource.data and leftovers(destination) == []


def test_if_range_answered_with_the_whole_new_object_restarts(origin: tuple[str, Resource], tmp_path: Path) -> None:
    url, resource = origin
    old = resource.data
    destination = tmp_path / "results.zip"
    control = TransferControl()
    source = {"url": url, **figures(old)}
    with pytest.raises(TransferPaused):
        ResultsDownloader(lambda: source, destination, control=control, on_progress=stop_at(0.6, control)).run()
    resource.data, resource.etag = results_zip(10), '"v2"'
    answers = iter([source, {"url": url, **figures(resource.data)}])  # stale figures first, then fresh ones
    result = ResultsDownloader(lambda: next(answers), destination).run()
    assert resource.seen[-1]["If-Range"] == '"v1"'  # one request: the server sent the new object whole
    assert result.restarts == 1 and result.url_refreshes == 1 and result.bytes_received == len(resource.data)
    assert destination.read_bytes() == resource.data and leftovers(destination) == []


def test_a_body_longer_than_announced_is_stopped_at_the_announced_size(
    origin: tuple[str, Resource], tmp_path: Path
) -> None:
    """Issue 15 item 14: announced 1,000 bytes, the downloader wrote 300 MiB before the integrity check.
    It now stops at the first chunk past the announced size, and deletes what it wrote."""
    url, resource = origin
    resource.data = os.urandom(24 * MiB)
    destination = tmp_path / "results.zip"
    most = [0]

    def watch(progress) -> None:
        most[0] = max(most[0], part_path(destination).stat().st_size if part_path(destination).exists() else 0)

    announced = {"url": url, "size": 1000, "sha256": "0" * 64}
    with pytest.raises(ResultsIntegrityError) as caught:
        ResultsDownloader(lambda: announced, destination, on_progress=watch, chunk_size=256, sleep=lambda s: None).run()
    assert "more than the 1000 bytes it announced" in str(caught.value) and str(destination) in str(caught.value)
    assert most[0] <= 1000 and leftovers(destination) == []
    assert len(resource.seen) == 1  # not asked again


def test_a_server_that_keeps_failing_ends_with_a_clear_error(tmp_path: Path) -> None:
    destination = tmp_path / "results.zip"
    answer = {"url": "http://127.0.0.1:9/results.zip?X-Amz-Signature=secret", "size": 10, "sha256": "a" * 64}
    with pytest.raises(ResultsDownloadError) as caught:
        ResultsDownloader(lambda: answer, destination, sleep=lambda s: None).run()
    assert str(destination) in str(caught.value) and "secret" not in str(caught.value)
    assert "gave up after" in str(caught.value)


def test_bytes_damaged_on_disk_are_caught_and_fetched_again_whole(bucket: Bucket, tmp_path: Path) -> None:
    data = results_zip(11)
    bucket.put("results/damaged.zip", data)
    server = Server(bucket, "results/damaged.zip", data)
    destination = tmp_path / "results.zip"
    control = TransferControl()
    with pytest.raises(TransferPaused):
        ResultsDownloader(server, destination, control=control, on_progress=stop_at(0.5, control)).run()
    with open(part_path(destination), "r+b") as part:  # a bad sector, an editor, another program...
        part.seek(1000)
        byte = part.read(1)
        part.seek(1000)
        part.write(bytes([byte[0] ^ 0xFF]))
    result = ResultsDownloader(server, destination).run()
    assert result.resumed_from > 0 and result.restarts == 1
    assert result.bytes_received == len(data) - result.resumed_from + len(data)
    assert destination.read_bytes() == data and leftovers(destination) == []


def test_a_part_file_without_a_readable_sidecar_is_not_trusted(bucket: Bucket, tmp_path: Path) -> None:
    data = results_zip(12, size=512 * 1024)
    bucket.put("results/orphan.zip", data)
    destination = tmp_path / "results.zip"
    part_path(destination).write_bytes(b"garbage that must not be kept")
    sidecar_path(destination).write_text("{not json")
    assert load_state(destination) is None
    result = ResultsDownloader(Server(bucket, "results/orphan.zip", data), destination).run()
    assert result.resumed_from == 0 and result.restarts == 1 and destination.read_bytes() == data


@pytest.mark.parametrize(
    ("status", "headers", "offset", "etag", "expected"),
    [
        (206, {"ETag": '"a"', "Content-Range": "bytes 100-199/200"}, 100, '"a"', Answer.APPEND),
        (206, {"ETag": '"b"', "Content-Range": "bytes 100-199/200"}, 100, '"a"', Answer.CHANGED),
        (206, {"ETag": '"a"', "Content-Range": "bytes 0-199/200"}, 100, '"a"', Answer.CHANGED),
        (206, {"ETag": '"a"'}, 100, '"a"', Answer.CHANGED),
        (200, {"ETag": '"a"'}, 0, None, Answer.FIRST),
        (200, {"ETag": '"a"'}, 100, '"a"', Answer.WHOLE_SAME),
        (200, {"ETag": '"b"'}, 100, '"a"', Answer.WHOLE_CHANGED),
        (200, {}, 100, '"a"', Answer.WHOLE_CHANGED),
        (200, {"ETag": '"a"', "Content-Range": "bytes 100-199/200"}, 100, '"a"', Answer.APPEND),
        (200, {"ETag": '"a"', "Content-Range": "bytes 50-199/200"}, 100, '"a"', Answer.CHANGED),
        (200, {"ETag": '"b"', "Content-Range": "bytes 100-199/200"}, 100, '"a"', Answer.CHANGED),
        (416, {}, 100, '"a"', Answer.CHANGED),
    ],
)
def test_what_an_answer_means_for_the_bytes_on_disk(
    status: int, headers: dict[str, str], offset: int, etag: str | None, expected: Answer
) -> None:
    assert judge_answer(status, headers, offset, etag) is expected
