"""Clean-up of temp/: originals after their job (seed 004), the periodic sweep (seed 001), old multipart
uploads. Outputs are never touched."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.test_jobs import upload
from tests.server.test_processing import FAST, exists, s3_client
from tests.server.test_seed_clients import wait_for_job
from tests.support.files import make_clip
from tests.support.servers import RunningServer, reeldrop_server
from tests.support.upload_stack import upload_stack

OUTPUT_KEYS = ("videos/v1/film_720p.mp4", "processed/j1/metadata.json", "results/j1.zip")


@pytest.fixture(scope="module")
def fast_server(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with reeldrop_server(s3_endpoint, tmp_path_factory.mktemp("cleanup"), extra=FAST) as running:
        yield running


def _multipart_uploads(server: RunningServer, prefix: str) -> list[str]:
    answer = s3_client(server.s3_endpoint).list_multipart_uploads(Bucket=server.services.config.bucket, Prefix=prefix)
    return [u["Key"] for u in answer.get("Uploads", [])]


def test_the_periodic_sweep_removes_old_temp_objects_and_uploads_but_no_outputs(
    s3_endpoint: str, tmp_path: Path
) -> None:
    env = {"S3_CLEANUP_TEMP_HOURS": "0"}  # everything in temp/ is "older than the window"
    extra = {"REELDROP_SWEEP_INTERVAL": "1"}
    with reeldrop_server(s3_endpoint, tmp_path, env=env, extra=extra, run_worker=False) as server:
        s3, bucket = s3_client(server.s3_endpoint), server.services.config.bucket
        for key in OUTPUT_KEYS:
            s3.put_object(Bucket=bucket, Key=key, Body=b"output")
        s3.put_object(Bucket=bucket, Key="temp/7/old/abandoned.mp4", Body=b"x" * 1000)
        s3.create_multipart_upload(Bucket=bucket, Key="temp/7/old/never-finished.mp4")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not exists(server, "temp/7/old/abandoned.mp4") and not _multipart_uploads(server, "temp/"):
                break
            time.sleep(0.1)
        assert not exists(server, "temp/7/old/abandoned.mp4")
        assert _multipart_uploads(server, "temp/") == []
        for key in OUTPUT_KEYS:
            assert exists(server, key), key


def test_a_sweep_keeps_the_original_of_an_unfinished_job(s3_endpoint: str, tmp_path: Path) -> None:
    with reeldrop_server(s3_endpoint, tmp_path, env={"S3_CLEANUP_TEMP_HOURS": "0"}, run_worker=False) as server:
        user, admin = server.add_user(), server.add_user(admin=True)
        data = upload(user, make_clip(tmp_path / "queued.mp4", seconds=1, size="160x120"))
        job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"]}).json()
        s3_client(server.s3_endpoint).put_object(Bucket=server.services.config.bucket, Key="temp/9/x.bin", Body=b"1")
        swept = admin.call("POST", "/api/upload/cleanup-temp?hours=0").json()
        assert swept["deleted_objects"] == 1 and swept["kept_in_use"] == 1
        assert exists(server, data["s3_key"]) and not exists(server, "temp/9/x.bin")

        user.call("POST", f"/api/jobs/{job['job_id']}/cancel")
        swept = admin.call("POST", "/api/upload/cleanup-temp?hours=0").json()
        assert swept["deleted_objects"] == 1 and not exists(server, data["s3_key"])
        assert user.call("GET", f"/api/upload/{data['upload_id']}").json()["status"] == "deleted"


def test_delete_after_processing_removes_the_original_and_keeps_the_outputs(
    fast_server: RunningServer, tmp_path: Path
) -> None:
    user = fast_server.add_user()
    options = {"renditions": ["240p"], "audio": True, "clips": {"count": 1}, "thumbnails": 1}
    results = {}
    for delete in (False, True):
        data = upload(user, make_clip(tmp_path / f"clip-{delete}.mp4", seconds=2, size="320x240"))
        body = {"upload_id": data["upload_id"], "options": {**options, "delete_after_processing": delete}}
        job = user.call("POST", "/api/jobs", json=body).json()
        results[delete] = (data, wait_for_job(user, job["status_url"], timeout=60))

    kept, doc = results[False]
    assert doc["status"] == "completed" and exists(fast_server, kept["s3_key"])
    assert user.call("GET", f"/api/upload/{kept['upload_id']}").json()["status"] == "uploaded"
    removed, doc = results[True]
    assert doc["status"] == "completed" and not exists(fast_server, removed["s3_key"])
    assert user.call("GET", f"/api/upload/{removed['upload_id']}").json()["status"] == "deleted"
    outputs = [i["s3_key"] for i in doc["items"] if i["s3_key"]]
    assert len(outputs) == 5  # rendition, audio, clip, thumbnail, metadata.json
    for key in [*outputs, f"results/{doc['job_id']}.zip"]:
        assert exists(fast_server, key), key


def test_an_original_shared_by_two_jobs_goes_only_after_both(fast_server: RunningServer, tmp_path: Path) -> None:
    user = fast_server.add_user()
    data = upload(user, make_clip(tmp_path / "shared.mp4", seconds=2, size="320x240"))
    options = {"renditions": ["240p"], "audio": False, "clips": {"count": 0}, "thumbnails": 0}
    jobs = [user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": options}).json()]
    jobs.append(user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": options}).json())
    docs = [wait_for_job(user, job["status_url"], timeout=60) for job in jobs]
    # neither job found its original deleted under it by the other
    assert [doc["status"] for doc in docs] == ["completed", "completed"], docs
    assert not exists(fast_server, data["s3_key"])


def test_an_upload_form_never_used_expires_and_stops_counting(s3_endpoint: str, tmp_path: Path) -> None:
    """Issue 15 item 9: a small-file upload whose client died before using its form stayed pending forever,
    counted against the quota and the pending-upload cap. The sweep now expires it once the form has."""
    with reeldrop_server(s3_endpoint, tmp_path, env={"S3_UPLOAD_EXPIRATION": "1"}, run_worker=False) as server:
        user, admin = server.add_user(), server.add_user(admin=True)
        clip = make_clip(tmp_path / "sent.mp4", seconds=1, size="160x120")
        body = {"filename": "never-sent.mp4", "file_size": 3_000_000, "content_type": "video/mp4"}
        unused = user.call("POST", "/api/upload/presigned-url", json=body).json()
        sent = upload(user, clip)  # sent and completed: not the sweep's to expire
        assert user.call("GET", "/api/me").json()["used_bytes"] == 3_000_000 + clip.stat().st_size
        time.sleep(1.2)  # the forms' lifetime
        swept = admin.call("POST", "/api/upload/cleanup-temp?hours=0").json()
        assert swept["expired_uploads"] == 1, swept
        record = user.call("GET", f"/api/upload/{unused['upload_id']}").json()
        assert record["status"] == "expired" and "expired before the file was sent" in record["error"]
        assert user.call("GET", f"/api/upload/{sent['upload_id']}").json()["status"] == "deleted"  # old temp/
        assert user.call("GET", "/api/me").json()["used_bytes"] == 0
        late = user.call("POST", f"/api/upload/{unused['upload_id']}/complete", json={})
        assert late.status_code == 409 and "expired" in late.json()["detail"], late.text


NOT_IMPLEMENTED_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NotImplemented</Code>'
    b"<Message>A header you provided implies functionality that is not implemented.</Message></Error>"
)


def test_a_store_that_cannot_list_multipart_uploads_skips_only_that_step(tmp_path: Path) -> None:
    """Issue 15 item 2: with ListMultipartUploads failing (always on s3rver, at start-up on rclone), the
    sweep deleted temp objects and then lost its database update: records stayed "uploaded" and /download
    handed out URLs that 404. Now each step stands alone and the database follows each deletion."""
    with upload_stack(tmp_path / "stack", env={"S3_UPLOAD_EXPIRATION": "1"}) as stack:
        server = stack.server
        user, admin = server.add_user(), server.add_user(admin=True)
        old = upload(user, make_clip(tmp_path / "old.mp4", seconds=1, size="160x120"))
        body = {"filename": "never-sent.mp4", "file_size": 3_000_000, "content_type": "video/mp4"}
        unused = user.call("POST", "/api/upload/presigned-url", json=body).json()
        time.sleep(1.2)
        stack.proxy.respond(501, NOT_IMPLEMENTED_XML, match=b"?uploads", count=5)
        swept = admin.call("POST", "/api/upload/cleanup-temp?hours=0")
        assert swept.status_code == 200, swept.text
        assert stack.proxy.fired.get("respond 501", 0) >= 1  # the listing did fail
        assert swept.json()["deleted_objects"] == 1 and swept.json()["aborted_multipart_uploads"] == 0
        assert swept.json()["expired_uploads"] == 1  # the step after the failed one still ran
        assert user.call("GET", f"/api/upload/{old['upload_id']}").json()["status"] == "deleted"
        assert user.call("GET", f"/api/upload/{old['upload_id']}/download").status_code == 409
        assert user.call("GET", f"/api/upload/{unused['upload_id']}").json()["status"] == "expired"
