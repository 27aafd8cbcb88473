"""Seed 000's "one job over several videos", for the caller's own uploads and the built-in worker:
POST /channel/download/selected with upload_ids -> a job per upload -> one results ZIP, a folder each."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.server.test_jobs import upload
from tests.server.test_processing import FAST, download, exists, unpack_and_verify_manifest
from tests.server.test_seed_clients import wait_for_job
from tests.support.files import make_clip
from tests.support.servers import RunningServer, reeldrop_server

PATH = "/channel/download/selected"
OPTIONS = {"renditions": ["240p"], "audio": False, "clips": {"count": 1}, "thumbnails": 1}


@pytest.fixture(scope="module")
def fast_server(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with reeldrop_server(s3_endpoint, tmp_path_factory.mktemp("batch"), extra=FAST) as running:
        yield running


@pytest.fixture(scope="module")
def idle_server(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with reeldrop_server(s3_endpoint, tmp_path_factory.mktemp("batch-idle"), run_worker=False) as running:
        yield running


def test_one_job_over_three_uploads_gives_one_zip_with_a_folder_each(
    fast_server: RunningServer, tmp_path: Path
) -> None:
    user = fast_server.add_user()
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    first = upload(user, make_clip(tmp_path / "a" / "holiday.mp4", seconds=2, size="320x240"))
    second = upload(user, make_clip(tmp_path / "b" / "holiday.mp4", seconds=1, size="320x240"))  # the same name
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(os.urandom(64 * 1024))  # declared a video, is not one: its job fails at validation
    third = upload(user, broken)
    ids = [first["upload_id"], second["upload_id"], third["upload_id"]]

    created = user.call("POST", PATH, json={"upload_ids": ids, "options": OPTIONS, "title": "Trip"})
    assert created.status_code == 200, created.text
    batch = created.json()
    assert [j["upload_id"] for j in batch["jobs"]] == ids
    doc = wait_for_job(user, batch["status_url"], timeout=120)

    assert doc["status"] == "partial" and doc["progress"] == 100, doc
    assert [(i["item_id"], i["kind"], i["status"]) for i in doc["items"]] == [
        (ids[0], "upload", "completed"),
        (ids[1], "upload", "completed"),
        (ids[2], "upload", "failed"),
    ]
    assert doc["items"][2]["error"] and "broken.mp4" in doc["items"][2]["error"]
    for child in batch["jobs"]:  # each upload's own job: done, its outputs in the batch's ZIP, not one of its own
        child_doc = user.call("GET", child["status_url"]).json()
        assert child_doc["options"]["batch_job_id"] == batch["job_id"] and "result" not in child_doc

    zip_path = tmp_path / "results.zip"
    download(user, batch["results_url"], zip_path)
    manifest = unpack_and_verify_manifest(zip_path, tmp_path / "out")
    assert manifest["status"] == "partial" and manifest["source"] == "Trip"
    names = {e["name"] for e in manifest["entries"]}
    for folder in ("holiday", "holiday_2"):
        assert {
            f"{folder}/renditions/holiday_240p.mp4",
            f"{folder}/clips/holiday_clip_01.mp4",
            f"{folder}/thumbnails/holiday_thumb_01.jpg",
            f"{folder}/metadata.json",
        } <= names, names
    assert not [n for n in names if n.startswith("broken/") and not n.endswith(".error.txt")], names
    errors = json.loads((tmp_path / "out" / "errors.json").read_text())["errors"]
    assert errors and all(e["item_id"].startswith("broken/") for e in errors), errors
    assert json.loads((tmp_path / "out" / "holiday_2" / "metadata.json").read_text())  # a real document


def test_cancelling_a_batch_cancels_the_job_of_every_upload(idle_server: RunningServer, tmp_path: Path) -> None:
    user = idle_server.add_user()
    ids = [upload(user, make_clip(tmp_path / f"{n}.mp4", seconds=1, size="160x120"))["upload_id"] for n in range(2)]
    batch = user.call("POST", PATH, json={"upload_ids": ids}).json()
    assert user.call("GET", batch["status_url"]).json()["status"] == "processing"
    cancelled = user.call("POST", f"/api/jobs/{batch['job_id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert [i["status"] for i in cancelled.json()["items"]] == ["cancelled", "cancelled"]
    for child in batch["jobs"]:
        assert user.call("GET", child["status_url"]).json()["status"] == "cancelled"
    assert not exists(idle_server, f"results/{batch['job_id']}.zip")


def test_bad_batches_are_refused_and_create_no_job(
    idle_server: RunningServer, tmp_path: Path, s3_endpoint: str
) -> None:
    user, other = idle_server.add_user(), idle_server.add_user()
    mine = upload(user, make_clip(tmp_path / "mine.mp4", seconds=1, size="160x120"))["upload_id"]
    theirs = upload(other, make_clip(tmp_path / "theirs.mp4", seconds=1, size="160x120"))["upload_id"]
    pending = user.call(
        "POST", "/api/upload/presigned-url", json={"filename": "x.mp4", "file_size": 1000, "content_type": "video/mp4"}
    ).json()["upload_id"]
    text = user.call("POST", "/api/upload/transcript-text", json={"content": "Hello"}).json()["upload_id"]

    def refused(body: dict, status: int, code: str | None = None) -> None:
        answer = user.call("POST", PATH, json=body)
        assert answer.status_code == status, (body, answer.text)
        if code:
            assert answer.json()["code"] == code, answer.text

    refused({"upload_ids": [mine, theirs]}, 404)  # another user's upload is not found, not named
    refused({"upload_ids": [mine, pending]}, 409, "object_missing")  # presigned, never sent
    refused({"upload_ids": [mine, text]}, 422, "not_media")
    refused({"upload_ids": [mine], "options": {"renditions": ["4k"]}}, 422, "invalid_options")
    refused({"upload_ids": [mine], "options": {"batch_job_id": "x"}}, 422, "invalid_options")
    refused({"upload_ids": [mine], "video_ids": ["abc"]}, 422)
    refused({"upload_ids": []}, 422)
    refused({"upload_ids": [mine] * 101}, 422)
    assert user.call("GET", "/api/jobs").json()["total"] == 0  # nothing was left half-made
    # A job on one upload cannot be slipped into someone's batch, nor made a batch itself.
    for sneaked in ({"batch_job_id": "x"}, {"uploads": [mine]}, {"children": ["x"]}):
        answer = user.call("POST", "/api/jobs", json={"upload_id": mine, "options": sneaked})
        assert answer.status_code == 422 and answer.json()["code"] == "invalid_options", answer.text
    assert requests.post(f"{idle_server.url}{PATH}", json={"upload_ids": [mine]}, timeout=10).status_code == 401
