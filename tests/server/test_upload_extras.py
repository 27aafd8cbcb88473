"""The older upload paths (seed 001), storage statistics, the temp sweep, and the operations routes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import requests

from tests.server.test_uploads import object_exists, object_sha256
from tests.support.files import random_file
from tests.support.servers import RunningServer, User


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
