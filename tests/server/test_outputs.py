"""One output of a job (seeds 002, 003): a link to share, whether it is still stored, and deleting it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.server.test_jobs import upload
from tests.server.test_seed_clients import wait_for_job
from tests.support.files import make_clip
from tests.support.servers import RunningServer, User, reeldrop_server

OPTIONS = {"renditions": ["240p"], "audio": True, "clips": {"count": 0}, "thumbnails": 0}


@pytest.fixture(scope="module")
def public(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"S3_DOWNLOAD_EXPIRATION": "7200", "AWS_S3_BASE_URL": "https://media.example.com"}
    with reeldrop_server(s3_endpoint, tmp_path_factory.mktemp("outputs"), env=env) as running:
        yield running


@pytest.fixture(scope="module")
def finished(public: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[User, dict]:
    user = public.add_user()
    folder = tmp_path_factory.mktemp("clip")
    data = upload(user, make_clip(folder / "talk.mp4", seconds=1, size="320x240"))
    job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": OPTIONS}).json()
    doc = wait_for_job(user, f"/api/jobs/{job['job_id']}", timeout=120)
    assert doc["status"] == "completed", doc
    return user, doc


def item_path(doc: dict, item_id: str) -> str:
    return f"/api/jobs/{doc['job_id']}/items/{item_id}"


def test_a_link_to_share_one_output(public: RunningServer, finished: tuple[User, dict]) -> None:
    user, doc = finished
    link = user.call("GET", f"{item_path(doc, 'rendition_240p')}/url")
    assert link.status_code == 200, link.text
    body = link.json()
    assert body["expires_in"] == 7200 and body["s3_key"].startswith(f"videos/{doc['job_id']}/")
    assert body["public_url"] == f"https://media.example.com/{body['s3_key']}"
    fetched = requests.get(body["url"], timeout=30)
    assert fetched.status_code == 200 and len(fetched.content) == body["size"] > 0
    assert user.call("GET", f"{item_path(doc, 'validate')}/url").status_code == 409  # a step with no file


def test_exists_and_delete_and_what_others_see(public: RunningServer, finished: tuple[User, dict]) -> None:
    user, doc = finished
    path = item_path(doc, "audio")
    exists = requests.head(f"{public.url}{path}", headers=user.headers, timeout=30)
    assert exists.status_code == 200 and int(exists.headers["Content-Length"]) > 0
    # Another user, or nobody: the job is not theirs to see, and nothing changes.
    stranger = public.add_user()
    assert requests.head(f"{public.url}{path}", headers=stranger.headers, timeout=30).status_code == 404
    assert stranger.call("DELETE", path).status_code == 404
    assert requests.delete(f"{public.url}{path}", timeout=30).status_code == 401
    assert user.call("GET", f"{path}/url").status_code == 200

    deleted = user.call("DELETE", path)
    assert deleted.status_code == 200 and deleted.json()["status"] == "deleted"
    assert public.services.store.head(deleted.json()["s3_key"]) is None
    assert user.call("DELETE", path).json()["status"] == "deleted"  # twice is fine
    assert requests.head(f"{public.url}{path}", headers=user.headers, timeout=30).status_code == 410
    gone = user.call("GET", f"{path}/url")
    assert gone.status_code == 410 and gone.json()["code"] == "output_deleted"
    assert user.call("GET", f"/api/jobs/{doc['job_id']}/results.zip").status_code == 200  # the ZIP keeps its copy
    assert user.call("HEAD", item_path(doc, "no-such-output")).status_code == 404


def test_outputs_of_a_running_job_stay(public: RunningServer, tmp_path: Path) -> None:
    with reeldrop_server(public.s3_endpoint, tmp_path / "idle", run_worker=False) as idle:
        user = idle.add_user()
        data = upload(user, make_clip(tmp_path / "clip.mp4", seconds=1, size="160x120"))
        job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": OPTIONS}).json()
        refused = user.call("DELETE", f"/api/jobs/{job['job_id']}/items/audio")
        assert refused.status_code == 409 and refused.json()["code"] == "job_not_finished"


def _finished_job(server: RunningServer, tmp_path: Path, options: dict) -> tuple[User, dict]:
    user = server.add_user()
    tmp_path.mkdir(parents=True, exist_ok=True)
    data = upload(user, make_clip(tmp_path / "talk.mp4", seconds=2, size="320x240"))
    job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": options}).json()
    doc = wait_for_job(user, f"/api/jobs/{job['job_id']}", timeout=120)
    assert doc["status"] == "completed", doc
    return user, doc


def test_keep_processed_false_leaves_only_the_zip(s3_endpoint: str, tmp_path: Path) -> None:
    with reeldrop_server(s3_endpoint, tmp_path / "server", env={"KEEP_PROCESSED": "false"}) as running:
        user, doc = _finished_job(running, tmp_path, OPTIONS)
        stored = [i for i in doc["items"] if i["s3_key"]]
        assert stored and {i["status"] for i in stored} == {"deleted"}
        assert all(running.services.store.head(i["s3_key"]) is None for i in stored)
        archive = user.call("GET", f"/api/jobs/{doc['job_id']}/results.zip")
        assert archive.status_code == 200 and b"renditions/talk_240p.mp4" in archive.content


def test_seed_004_deletes_the_extracted_audio_once_every_clip_is_made(public: RunningServer, tmp_path: Path) -> None:
    options = {**OPTIONS, "clips": {"count": 2}, "delete_audio_after_clips": True}
    _user, doc = _finished_job(public, tmp_path / "with-clips", options)
    by_id = {i["item_id"]: i for i in doc["items"]}
    assert by_id["audio"]["status"] == "deleted" and public.services.store.head(by_id["audio"]["s3_key"]) is None
    assert by_id["clip_01"]["status"] == by_id["clip_02"]["status"] == "completed"
    assert public.services.store.head(by_id["clip_01"]["s3_key"]) is not None
    # No clips asked: the audio is the output, and stays.
    _user, alone = _finished_job(public, tmp_path / "no-clips", {**OPTIONS, "delete_audio_after_clips": True})
    assert {i["item_id"]: i["status"] for i in alone["items"]}["audio"] == "completed"


def test_the_cleanup_settings_refuse_what_is_not_yes_or_no(public: RunningServer, tmp_path: Path) -> None:
    from app.server.config import load_config

    with pytest.raises(ValueError, match="KEEP_PROCESSED must be true or false"):
        load_config({"KEEP_PROCESSED": "sometimes"}, data_dir=tmp_path)
    user = public.add_user()
    data = upload(user, make_clip(tmp_path / "clip.mp4", seconds=1, size="160x120"))
    bad = {"upload_id": data["upload_id"], "options": {"delete_audio_after_clips": "yes"}}
    refused = user.call("POST", "/api/jobs", json=bad)
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_options"
