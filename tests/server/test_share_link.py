"""The app's "Copy link": a finished file's main video where the server keeps it, else its results ZIP."""

from __future__ import annotations

from pathlib import Path

import requests

from app.core.api import BackendClient
from app.core.share_link import share_link
from tests.server.test_jobs import upload
from tests.server.test_seed_clients import wait_for_job
from tests.support.files import make_clip
from tests.support.servers import RunningServer, User, reeldrop_server


def _finished(server: RunningServer, user: User, tmp_path: Path, renditions: list[str]) -> str:
    data = upload(user, make_clip(tmp_path / "talk.mp4", seconds=1, size="854x480"))
    options = {"renditions": renditions, "audio": False, "clips": {"count": 0}, "thumbnails": 0}
    job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": options}).json()
    assert wait_for_job(user, f"/api/jobs/{job['job_id']}", timeout=120)["status"] == "completed"
    return job["job_id"]


def test_the_link_is_to_the_video_at_the_presets_own_resolution(
    server: RunningServer, user: User, tmp_path: Path
) -> None:
    job_id = _finished(server, user, tmp_path, ["480p", "240p"])
    client = BackendClient(server.url, user.token)
    try:
        link = share_link(client, job_id, "480p")
        assert link.what == "480p video" and link.expires_in == server.services.config.download_expiry
        video = requests.get(link.url, timeout=30)
        assert video.status_code == 200 and video.content[4:8] == b"ftyp"
        # A preset whose own rendition the job did not make (or with none, like Original): the ZIP.
        for preset in ("1080p", "original"):
            fallback = share_link(client, job_id, preset)
            assert fallback.what == "results ZIP" and requests.get(fallback.url, timeout=30).content[:2] == b"PK"
    finally:
        client.close()


def test_a_public_bucket_gives_the_public_url_and_a_server_keeping_only_zips_the_zip(
    s3_endpoint: str, tmp_path: Path
) -> None:
    env = {"AWS_S3_BASE_URL": "https://cdn.example.com", "KEEP_PROCESSED": "false"}
    with reeldrop_server(s3_endpoint, tmp_path / "zips-only", env=env) as running:
        user = running.add_user()
        job_id = _finished(running, user, tmp_path, ["480p"])
        client = BackendClient(running.url, user.token)
        try:
            link = share_link(client, job_id, "480p")  # the rendition was deleted once in the ZIP
            assert link.what == "results ZIP" and link.expires_in
        finally:
            client.close()
    with reeldrop_server(
        s3_endpoint, tmp_path / "public", env={"AWS_S3_BASE_URL": "https://cdn.example.com"}
    ) as running:
        user = running.add_user()
        job_id = _finished(running, user, tmp_path, ["480p"])
        client = BackendClient(running.url, user.token)
        try:
            link = share_link(client, job_id, "480p")
            assert link.url.startswith("https://cdn.example.com/videos/") and link.expires_in is None
        finally:
            client.close()
