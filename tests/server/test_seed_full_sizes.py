"""Seed 004's 3-step snippet at its own size, 2 GB, on "This computer" (the folder store every install runs
first). It writes 2 GB twice (the file, the stored object) and holds the form in memory as `requests` builds
it, so it runs only when asked: REELDROP_SEED_FULL_SIZES=1 (the note of the session that adds a seed change
says it ran). Seed 003's 187 MB runs in every suite (test_seed_clients.py, test_seed_js_client.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from tests.server.test_seed_clients import clip_of_size, wait_for_job
from tests.support.servers import User, folder_store_server

SEED_004_FILE_SIZE = 2_000_000_000

pytestmark = pytest.mark.skipif(
    os.environ.get("REELDROP_SEED_FULL_SIZES") != "1", reason="2 GB on disk twice: set REELDROP_SEED_FULL_SIZES=1"
)


def test_seed_004_snippet_at_2_gb_on_this_computer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip_of_size(tmp_path / "large_video.mp4", SEED_004_FILE_SIZE)
    monkeypatch.chdir(tmp_path)  # the snippet opens "large_video.mp4" where it runs
    with folder_store_server(tmp_path / "server") as server:
        user: User = server.add_user(quota=4 * SEED_004_FILE_SIZE)
        host, headers = server.url, user.headers

        # The seed's snippet, but for the host and the Authorization header.
        # Step 1: Get presigned URL
        response = requests.post(
            f"{host}/api/upload/presigned-url/",
            json={"filename": "large_video.mp4", "file_size": 2000000000, "content_type": "video/mp4"},  # 2GB
            headers=headers,
        )
        presigned = response.json()

        # Step 2: Upload to S3
        with open("large_video.mp4", "rb") as f:
            uploaded = requests.post(presigned["upload_url"], data=presigned["upload_fields"], files={"file": f})

        # Step 3: Create job
        created = requests.post(
            f"{host}/api/upload/create-job/",
            json={
                "job_id": presigned["job_id"],
                "s3_key": presigned["s3_key"],
                "file_type": presigned["file_type"],
                "num_segments": 5,
            },
            headers=headers,
        )

        assert uploaded.status_code == 204, uploaded.text
        assert created.status_code == 200, created.text
        done = wait_for_job(user, f"/api/jobs/{presigned['job_id']}", timeout=600)
        assert done["status"] == "completed", done
        upload = user.call("GET", f"/api/upload/{presigned['upload_id']}").json()
        # planned as multipart (its size is over the threshold), taken as the form the snippet posted
        assert presigned["method"] == "MULTIPART" and upload["method"] == "POST", (presigned, upload)
        assert upload["size"] == SEED_004_FILE_SIZE and len(done["items"]) > 5, done
