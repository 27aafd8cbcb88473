"""Job creation, status transitions, listing and cancel, with real ffmpeg probing in the worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.server.test_seed_clients import wait_for_job
from tests.support.files import make_clip, random_file
from tests.support.servers import RunningServer, User, reeldrop_server


def upload(user: User, path: Path, content_type: str = "video/mp4") -> dict:
    data = user.call(
        "POST",
        "/api/upload/presigned-url",
        json={"filename": path.name, "file_size": path.stat().st_size, "content_type": content_type},
    ).json()
    with open(path, "rb") as f:
        posted = requests.post(data["upload_url"], data=data["upload_fields"], files={"file": f}, timeout=30)
    assert posted.status_code == 204
    assert user.call("POST", f"/api/upload/{data['upload_id']}/complete", json={}).status_code == 200
    return data


@pytest.fixture(scope="module")
def idle_server(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose worker does not run, so jobs stay pending for as long as a test needs."""
    with reeldrop_server(s3_endpoint, tmp_path_factory.mktemp("idle"), run_worker=False) as running:
        yield running


def test_a_video_job_goes_pending_processing_completed(user: User, tmp_path: Path) -> None:
    data = upload(user, make_clip(tmp_path / "clip.mp4", seconds=1, size="160x120"))
    created = user.call(
        "POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": {"title": "My clip", "tags": ["a"]}}
    )
    assert created.status_code == 200 and created.json()["status"] == "pending"
    doc = wait_for_job(user, created.json()["status_url"])
    assert doc["status"] == "completed" and doc["progress"] == 100
    meta = doc["items"][0]["metadata"]
    assert (meta["video"]["width"], meta["video"]["height"]) == (160, 120)
    assert 0.9 < meta["duration_s"] < 1.2
    assert "path" not in meta
    assert doc["options"]["title"] == "My clip" and doc["options"]["renditions"] == ["720p", "480p"]


def test_a_non_video_fails_with_a_clear_error_type(user: User, tmp_path: Path) -> None:
    fake = tmp_path / "invoice.mp4"
    fake.write_bytes(b"MZ" + b"\x00" * 4000)  # a Windows executable renamed .mp4
    data = upload(user, fake)
    job = user.call("POST", "/api/upload/create-job", json={"upload_id": data["upload_id"]}).json()
    doc = wait_for_job(user, job["status_url"])
    assert doc["status"] == "failed"
    item = doc["items"][0]
    assert item["status"] == "failed" and item["error_type"] == "not_media"
    assert item["error"]
    assert str(tmp_path) not in item["error"] and "/work/" not in item["error"]  # no server paths leak


def test_a_job_needs_a_finished_upload(user: User, tmp_path: Path) -> None:
    path = tmp_path / "big.mp4"
    random_file(path, 7 * 1024 * 1024)
    data = user.call(
        "POST",
        "/api/upload/presigned-url",
        json={"filename": "big.mp4", "file_size": path.stat().st_size, "content_type": "video/mp4"},
    ).json()
    assert data["method"] == "MULTIPART"
    answer = user.call("POST", "/api/upload/create-job", json={"upload_id": data["upload_id"]})
    assert answer.status_code == 409 and answer.json()["code"] == "upload_not_complete"
    missing = user.call("POST", "/api/upload/create-job", json={})
    assert missing.status_code == 422


def test_cancel_a_pending_job_and_list_jobs(idle_server: RunningServer, tmp_path: Path) -> None:
    user = idle_server.add_user()
    data = upload(user, make_clip(tmp_path / "c.mp4", seconds=1, size="160x120"))
    ids = [user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"]}).json()["job_id"] for _ in range(3)]
    assert ids[0] == data["job_id"] and len(set(ids)) == 3
    listing = user.call("GET", "/api/jobs?limit=2").json()
    assert listing["total"] == 3 and len(listing["jobs"]) == 2
    assert [j["job_id"] for j in listing["jobs"]] == ids[::-1][:2]  # newest first
    page2 = user.call("GET", "/api/jobs?limit=2&offset=2").json()
    assert [j["job_id"] for j in page2["jobs"]] == [ids[0]]
    cancelled = user.call("POST", f"/api/jobs/{ids[1]}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = user.call("POST", f"/api/jobs/{ids[1]}/cancel")
    assert again.status_code == 409 and again.json()["code"] == "job_finished"
    assert user.call("GET", "/api/jobs?status=cancelled").json()["total"] == 1
    assert user.call("GET", "/api/jobs?limit=1000").status_code == 422
