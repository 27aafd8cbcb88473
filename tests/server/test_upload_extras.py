"""The older upload paths (seed 001), storage statistics, the temp sweep, and the operations routes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.server.test_jobs import upload
from tests.server.test_uploads import object_exists, object_sha256
from tests.support.files import random_file
from tests.support.servers import RunningServer, User
from tests.support.upload_stack import UploadStack, upload_stack


def test_small_file_through_the_api(user: User, server: RunningServer, tmp_path: Path) -> None:
    path = tmp_path / "voice.m4a"
    digest = random_file(path, 300_000)
    with open(path, "rb") as f:
        answer = user.call("POST", "/api/upload/file", files={"file": ("voice.m4a", f, "audio/mp4")})
    assert answer.status_code == 200, answer.text
    record = answer.json()
    assert record["status"] == "uploaded" and record["size"] == 300_000 and record["method"] == "API"
    assert object_sha256(server, record["s3_key"]) == digest


def test_small_file_path_refuses_bad_files(user: User, tmp_path: Path) -> None:
    empty = user.call("POST", "/api/upload/video", files={"file": ("a.mp4", b"", "video/mp4")})
    assert empty.status_code == 400 and empty.json()["code"] == "empty_file"
    exe = user.call("POST", "/api/upload/file", files={"file": ("a.exe", b"MZ..", "application/x-msdownload")})
    assert exe.status_code == 415
    bad_name = user.call("POST", "/api/upload/file", files={"file": ("../a.mp4", b"data", "video/mp4")})
    assert bad_name.status_code == 400 and bad_name.json()["code"] == "invalid_filename"
    missing = user.call("POST", "/api/upload/file", data={"nothing": "here"})
    assert missing.status_code == 422


def test_small_file_path_stops_at_the_multipart_threshold(server: RunningServer, user: User) -> None:
    limit = server.services.config.multipart_threshold
    body = b"\0" * (limit + 1)
    answer = user.call("POST", "/api/upload/file", files={"file": ("big.mp4", body, "video/mp4")})
    assert answer.status_code == 413 and answer.json()["code"] == "file_too_large"


def test_transcripts(user: User, server: RunningServer) -> None:
    text = user.call("POST", "/api/upload/transcript-text", json={"content": "Hello, creators."})
    assert text.status_code == 200 and text.json()["content_type"] == "text/plain"
    body = server.services.store.open_stream(text.json()["s3_key"])["Body"].read()
    assert body == b"Hello, creators."
    file = user.call("POST", "/api/upload/transcript-file", files={"file": ("subs.txt", b"1\nhi\n", "text/plain")})
    assert file.status_code == 200
    # text is only accepted on the transcript routes
    refused = user.call("POST", "/api/upload/file", files={"file": ("subs.txt", b"1\nhi\n", "text/plain")})
    assert refused.status_code == 415


def test_move_to_permanent(user: User, server: RunningServer) -> None:
    record = user.call("POST", "/api/upload/file", files={"file": ("keep.mp4", b"v" * 5000, "video/mp4")}).json()
    old_key = record["s3_key"]
    moved = user.call("POST", f"/api/upload/{record['upload_id']}/move-to-permanent").json()
    assert moved["s3_key"] == f"videos/{record['upload_id']}/keep.mp4" and moved["is_temp"] is False
    assert object_exists(server, moved["s3_key"]) and not object_exists(server, old_key)
    url = user.call("GET", f"/api/upload/{record['upload_id']}/download").json()["url"]
    assert hashlib.sha256(requests.get(url, timeout=30).content).hexdigest() == hashlib.sha256(b"v" * 5000).hexdigest()


def test_stats_overview_counts_only_the_callers_files(server: RunningServer) -> None:
    alice, bob = server.add_user(), server.add_user()
    alice.call("POST", "/api/upload/file", files={"file": ("a.mp4", b"a" * 1000, "video/mp4")})
    alice.call("POST", "/api/upload/file", files={"file": ("b.mp4", b"b" * 500, "video/mp4")})
    bob.call("POST", "/api/upload/file", files={"file": ("c.mp4", b"c" * 70, "video/mp4")})
    stats = alice.call("GET", "/api/upload/stats/overview").json()
    assert stats["prefixes"]["temp"] == {"count": 2, "bytes": 1500}
    assert stats["uploads_by_status"] == {"uploaded": 2}
    assert stats["scope"] == alice.username


def test_cleanup_temp_sweeps_old_objects_and_abandoned_multipart_uploads(
    server: RunningServer, user: User, admin: User
) -> None:
    small = user.call("POST", "/api/upload/file", files={"file": ("old.mp4", b"o" * 100, "video/mp4")}).json()
    big = user.call(
        "POST",
        "/api/upload/presigned-url",
        json={"filename": "abandoned.mp4", "file_size": 20 * 1024 * 1024, "content_type": "video/mp4"},
    ).json()
    keep = user.call("POST", "/api/upload/file", files={"file": ("keep.mp4", b"k" * 100, "video/mp4")}).json()
    user.call("POST", f"/api/upload/{keep['upload_id']}/move-to-permanent")
    nothing = admin.call("POST", "/api/upload/cleanup-temp?hours=24").json()
    assert object_exists(server, small["s3_key"]), nothing
    swept = admin.call("POST", "/api/upload/cleanup-temp?hours=0").json()
    assert swept["deleted_objects"] >= 1 and swept["aborted_multipart_uploads"] >= 1
    assert not object_exists(server, small["s3_key"])
    assert user.call("GET", f"/api/upload/{small['upload_id']}").json()["status"] == "deleted"
    assert user.call("GET", f"/api/upload/{big['upload_id']}").json()["status"] == "aborted"
    assert object_exists(server, f"videos/{keep['upload_id']}/keep.mp4")  # permanent files are never swept
    bad = admin.call("POST", "/api/upload/cleanup-temp?hours=-1")
    assert bad.status_code == 422


def test_health_readiness_and_openapi(server: RunningServer) -> None:
    assert requests.get(f"{server.url}/healthz", timeout=10).json() == {"status": "ok"}
    ready = requests.get(f"{server.url}/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "s3": "ok"}
    spec = requests.get(f"{server.url}/openapi.json", timeout=10).json()
    for path in (
        "/api/upload/presigned-url",
        "/api/upload/{upload_id}/parts",
        "/api/upload/{upload_id}/complete",
        "/api/upload/create-job",
        "/process/video/s3",
        "/api/jobs/{job_id}",
        "/api/auth/token",
    ):
        assert path in spec["paths"], path


NOT_IMPLEMENTED_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NotImplemented</Code>'
    b"<Message>A header you provided implies functionality that is not implemented.</Message></Error>"
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UploadStack]:
    with upload_stack(tmp_path_factory.mktemp("copy-stack")) as running:
        yield running


@pytest.mark.parametrize(
    ("refused", "lacks"),
    [(b"x-amz-copy-source-range", "UploadPartCopy"), (b"x-amz-copy-source", "any server-side copy")],
)
def test_move_to_permanent_above_8_mib_on_a_store_that_lacks(
    stack: UploadStack, tmp_path: Path, refused: bytes, lacks: str
) -> None:
    """Issue 15 item 3: boto3's managed copy goes multipart (UploadPartCopy) from 8 MiB, which s3rver and
    rclone lack: move-to-permanent failed above 8 MiB. One CopyObject now serves up to 5 GB, and a store
    with no copy at all gets the bytes streamed through, content type and metadata kept."""
    stack.reset()
    user = stack.server.add_user()
    path = tmp_path / "keep.mp4"
    digest = random_file(path, 9 * 1024 * 1024)
    record = upload(user, path)  # the POST form, over this server's 6 MiB threshold
    stack.proxy.respond(501, NOT_IMPLEMENTED_XML, match=refused, count=10)
    moved = user.call("POST", f"/api/upload/{record['upload_id']}/move-to-permanent")
    assert moved.status_code == 200, f"a store without {lacks}: {moved.text}"
    key = moved.json()["s3_key"]
    assert object_sha256(stack.server, key) == digest and not object_exists(stack.server, record["s3_key"])
    head = stack.server.services.store.head(key)
    assert head is not None and head.content_type == "video/mp4"
    assert head.metadata.get("upload-id") == record["upload_id"]  # its metadata came along


@pytest.mark.parametrize(
    ("body", "times", "what"),
    [
        (b"<InitiateMultipartUploadResult><Bucket>b</Bucket></InitiateMultipartUploadResult>", 1, "no UploadId"),
        (b"<InitiateMultipartUploadResult><Bucket>b</Buck", 10, "cut XML at every retry"),
    ],
)
def test_a_cut_or_malformed_storage_answer_is_a_503_to_try_again(
    stack: UploadStack, tmp_path: Path, body: bytes, times: int, what: str
) -> None:
    """Issue 15 item 12: a store's answer cut on the way (or malformed) reached code that reads its fields
    and gave a 500. It is now 503 storage_unavailable with Retry-After, and the next try works."""
    stack.reset()
    user = stack.server.add_user()
    plan = {"filename": "big.mp4", "file_size": 40 * 1024 * 1024, "content_type": "video/mp4", "resumable": True}
    stack.proxy.respond(200, body, match=b"?uploads", count=times)  # CreateMultipartUpload's answers
    refused = user.call("POST", "/api/upload/presigned-url", json=plan)
    stack.proxy.clear()
    assert refused.status_code == 503, f"{what}: {refused.status_code} {refused.text}"
    assert refused.json()["code"] == "storage_unavailable" and refused.headers["Retry-After"] == "2"
    assert user.call("POST", "/api/upload/presigned-url", json=plan).json()["method"] == "MULTIPART"
