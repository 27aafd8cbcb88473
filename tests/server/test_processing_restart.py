"""A server stopped in the middle of a job hands the job back to its queue; the next start finishes it."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import requests

from app.server.db import Database, Job
from tests.server.test_jobs import upload
from tests.server.test_processing import FAST
from tests.server.test_seed_clients import wait_for_job
from tests.support.files import make_clip
from tests.support.servers import User, reeldrop_server


def _login(base_url: str, username: str, password: str) -> User:
    answer = requests.post(f"{base_url}/api/auth/token", json={"username": username, "password": password}, timeout=10)
    answer.raise_for_status()
    return User(username, password, answer.json()["access_token"], base_url)


def test_a_job_interrupted_by_a_shutdown_is_finished_after_the_restart(s3_endpoint: str, tmp_path: Path) -> None:
    env = {"S3_BUCKET_NAME": f"reeldrop-restart-{secrets.token_hex(3)}"}  # the same store for both runs
    data_dir = tmp_path / "server"
    options = {"renditions": ["360p"], "audio": False, "clips": {"count": 0}, "thumbnails": 0}
    with reeldrop_server(s3_endpoint, data_dir, env=env, extra={"REELDROP_X264_PRESET": "veryslow"}) as first:
        user = first.add_user(username="restarter", password="a long password")
        data = upload(user, make_clip(tmp_path / "long.mp4", seconds=20, size="640x360"))
        job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": options}).json()
        deadline = time.monotonic() + 60
        while True:  # until the rendition's ffmpeg runs
            doc = user.call("GET", job["status_url"]).json()
            if doc["items"][1]["status"] == "processing":
                break
            assert doc["status"] in ("pending", "processing") and time.monotonic() < deadline, doc
            time.sleep(0.05)
        database_url = first.services.config.database_url

    # stopped mid-encode: the job is handed back, neither cancelled nor failed
    db = Database(database_url)
    try:
        with db.session() as session:
            stored = session.get(Job, job["job_id"])
            assert stored is not None and stored.status == "pending" and not stored.cancel_requested
            assert {i.status for i in stored.items} == {"pending"}
    finally:
        db.dispose()

    with reeldrop_server(s3_endpoint, data_dir, env=env, extra=FAST) as second:
        user = _login(second.url, "restarter", "a long password")
        doc = wait_for_job(user, job["status_url"], timeout=60)
        assert doc["status"] == "completed", doc
        assert doc["items"][1]["metadata"]["width"] == 640


def test_a_job_orphaned_by_a_crash_is_queued_again_at_the_next_start(s3_endpoint: str, tmp_path: Path) -> None:
    """SIGKILL or power loss: the job stays `processing` and its queue entry is gone. With the
    single-machine queue nobody else can be running it, so the next start queues it again."""
    env = {"S3_BUCKET_NAME": f"reeldrop-crash-{secrets.token_hex(3)}"}
    data_dir = tmp_path / "server"
    options = {"renditions": ["240p"], "audio": False, "clips": {"count": 0}, "thumbnails": 0}
    with reeldrop_server(s3_endpoint, data_dir, env=env, run_worker=False) as first:
        user = first.add_user(username="crasher", password="a long password")
        data = upload(user, make_clip(tmp_path / "clip.mp4", seconds=2, size="320x240"))
        job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": options}).json()
        # what a worker killed mid-job leaves behind: the job claimed, its queue entry consumed
        with first.services.db.session() as session:
            session.get(Job, job["job_id"]).status = "processing"
        first.services.queue.huey.flush()
        (data_dir / "work" / job["job_id"]).mkdir(parents=True)  # and its scratch folder

    with reeldrop_server(s3_endpoint, data_dir, env=env, extra=FAST) as second:
        user = _login(second.url, "crasher", "a long password")
        doc = wait_for_job(user, job["status_url"], timeout=60)
        assert doc["status"] == "completed", doc
        assert not (data_dir / "work" / job["job_id"]).exists()
