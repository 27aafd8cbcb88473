"""The source documents' own example clients, unchanged where they talk to S3, against our answers.

Their calls to the API gain only the Authorization header that API.md requires.
"""

from __future__ import annotations

import time
from pathlib import Path

import requests

from tests.support.files import make_clip
from tests.support.servers import RunningServer, User


def wait_for_job(user: User, status_path: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = user.call("GET", status_path).json()
        if doc["status"] in ("completed", "partial", "failed", "cancelled"):
            return doc
        time.sleep(0.2)
    raise AssertionError(f"job at {status_path} did not finish in {timeout}s: {doc}")


def test_seed_003_flow(server: RunningServer, user: User, tmp_path: Path) -> None:
    make_clip(tmp_path / "traffic_video.mp4", seconds=1)
    # Step 1: Get presigned URL (seed 003 sends no content_type)
    response = requests.post(
        f"{server.url}/process/video/upload/s3/presigned-url",
        json={"filename": "traffic_video.mp4", "file_size": (tmp_path / "traffic_video.mp4").stat().st_size},
        headers=user.headers,
        timeout=30,
    )
    data = response.json()
    # Step 2: Upload to S3 — the seed's code, unchanged
    with open(tmp_path / "traffic_video.mp4", "rb") as f:
        files = {"file": f}
        upload_response = requests.post(data["upload_url"], data=data["upload_fields"], files=files)
    assert upload_response.status_code == 204
    # Step 3: Process Video
    job = requests.post(
        f"{server.url}/process/video/s3",
        json={"s3_key": data["s3_key"], "frame_skip": 2, "min_confidence": 0.3, "delete_after_processing": True},
        headers=user.headers,
        timeout=30,
    ).json()
    assert job["status"] == "pending" and "Use the job_id" in job["message"]
    # the job takes the id the presigned answer promised, so its status_url works
    assert job["job_id"] == data["job_id"] and data["status_url"] == f"/jobs/{data['job_id']}"
    # Step 4: Monitor Progress
    doc = wait_for_job(user, data["status_url"])
    assert doc["status"] == "completed", doc
    validate = doc["items"][0]
    assert validate["kind"] == "validate" and validate["status"] == "completed"
    assert validate["metadata"]["video"]["width"] == 320


def test_seed_004_flow(server: RunningServer, user: User, tmp_path: Path) -> None:
    make_clip(tmp_path / "large_video.mp4", seconds=1)
    response = requests.post(
        f"{server.url}/api/upload/presigned-url/",
        json={
            "filename": "large_video.mp4",
            "file_size": (tmp_path / "large_video.mp4").stat().st_size,
            "content_type": "video/mp4",
        },
        headers=user.headers,
        timeout=30,
    )
    presigned = response.json()
    # Step 2: Upload to S3 — the seed's code, unchanged
    with open(tmp_path / "large_video.mp4", "rb") as f:
        requests.post(presigned["upload_url"], data=presigned["upload_fields"], files={"file": f})
    # Step 3: Create job (seed 004 never calls complete: create-job checks the object itself)
    job = requests.post(
        f"{server.url}/api/upload/create-job/",
        json={
            "job_id": presigned["job_id"],
            "s3_key": presigned["s3_key"],
            "file_type": "video",
            "num_segments": 5,
        },
        headers=user.headers,
        timeout=30,
    )
    assert job.status_code == 200, job.text
    assert job.json()["job_id"] == presigned["job_id"]
    doc = wait_for_job(user, f"/api/jobs/{presigned['job_id']}")
    assert doc["options"]["clips"] == {"count": 5}
    assert doc["status"] == "completed"
    # seed 004: the original is deleted once its job made the outputs (delete_after_processing defaults on)
    assert user.call("GET", f"/api/upload/{presigned['upload_id']}").json()["status"] == "deleted"


def test_seed_003_curl_form_upload(server: RunningServer, user: User, tmp_path: Path) -> None:
    """Seed 003's curl command: -F for every field, then -F file=@..."""
    import shutil
    import subprocess

    curl = shutil.which("curl")
    assert curl, "curl is part of the test environment"
    clip = make_clip(tmp_path / "clip.mp4", seconds=1)
    data = user.call(
        "POST",
        "/api/upload/presigned-url",
        json={"filename": "clip.mp4", "file_size": clip.stat().st_size, "content_type": "video/mp4"},
    ).json()
    args = [curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", data["upload_url"]]
    for name, value in data["upload_fields"].items():
        args += ["-F", f"{name}={value}"]
    args += ["-F", f"file=@{clip}"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout == "204", result.stderr
    done = user.call("POST", f"/api/upload/{data['upload_id']}/complete", json={})
    assert done.status_code == 200 and done.json()["size"] == clip.stat().st_size
