"""--external-workers: no built-in worker runs; this test plays the worker elsewhere (seed 000's Lambda).

It reads its work order, makes outputs with real ffmpeg, stores them in S3 and reports each step with
signed callbacks. Forged, stale and unsigned calls are refused with 401 and change nothing.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from app.core.media import find_ffmpeg, probe
from app.server.signing import MAX_AGE_S, sign_headers
from app.server.threaded import free_port
from tests.server.test_jobs import upload
from tests.server.test_processing import download, s3_client, unpack_and_verify_manifest
from tests.server.test_seed_clients import wait_for_job
from tests.support.files import make_clip
from tests.support.lambda_peer import worker_peer
from tests.support.servers import RunningServer, User, reeldrop_server

SECRET = "test-worker-secret"  # what tests.support.servers gives every test server
MARK = "made-by-the-test-worker"


@pytest.fixture(scope="module")
def external(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with reeldrop_server(s3_endpoint, tmp_path_factory.mktemp("external"), external_workers=True) as running:
        yield running


class PlayedWorker:
    """A worker on "another machine": it knows the API's address, the bucket and the shared secret."""

    def __init__(self, server: RunningServer, secret: str = SECRET) -> None:
        self.server = server
        self.secret = secret
        self.s3 = s3_client(server.s3_endpoint)

    def get(self, job_id: str) -> requests.Response:
        path = f"/internal/job/{job_id}"
        signed = sign_headers(self.secret, b"", method="GET", target=path)
        return requests.get(self.server.url + path, headers=signed, timeout=30)

    def post(self, job_id: str, event: str, payload: dict, **sign: int) -> requests.Response:
        body = json.dumps(payload).encode()
        path = f"/internal/job/{job_id}/{event}"
        headers = {
            "Content-Type": "application/json",
            **sign_headers(self.secret, body, method="POST", target=path, **sign),
        }
        return requests.post(self.server.url + path, data=body, headers=headers, timeout=30)

    def ffmpeg(self, *args: str) -> None:
        argv = [find_ffmpeg().ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]
        subprocess.run(argv, check=True, timeout=60)

    def put(self, path: Path, key: str) -> None:
        self.s3.upload_file(str(path), self.server.services.config.bucket, key)


def _create_job(user: User, tmp_path: Path, options: dict) -> dict:
    data = upload(user, make_clip(tmp_path / "talk.mp4", seconds=2, size="320x240"))
    return user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": options}).json()


def _snapshot(user: User, job_id: str) -> dict:
    doc = user.call("GET", f"/api/jobs/{job_id}").json()
    return {k: doc[k] for k in ("status", "progress", "items", "updated_at", "error")}


def test_a_job_completes_from_the_callbacks_of_a_worker_elsewhere(external: RunningServer, tmp_path: Path) -> None:
    user, worker = external.add_user(), PlayedWorker(external)
    options = {"renditions": ["240p"], "audio": True, "clips": {"count": 0}, "thumbnails": 1}
    job = _create_job(user, tmp_path, options)
    job_id = job["job_id"]

    order = worker.get(job_id)
    assert order.status_code == 200, order.text
    order = order.json()
    assert order["status"] == "pending" and order["options"]["renditions"] == ["240p"]
    targets = {i["item_id"]: i["target_key"] for i in order["items"]}
    assert list(targets) == ["validate", "rendition_240p", "audio", "thumbnail_01", "metadata"]
    assert targets["rendition_240p"] == f"videos/{job_id}/talk_240p.mp4"

    # the work, done "elsewhere" with real ffmpeg
    source = tmp_path / "source.mp4"
    worker.s3.download_file(order["source"]["bucket"], order["source"]["s3_key"], str(source))
    info = probe(source)
    rendition, audio, meta = tmp_path / "r.mp4", tmp_path / "a.m4a", tmp_path / "m.json"
    worker.ffmpeg("-i", str(source), "-vf", "scale=320:240", "-c:v", "libx264", "-preset", "ultrafast",
                  "-c:a", "aac", "-metadata", f"comment={MARK}", str(rendition))  # fmt: skip
    worker.ffmpeg("-i", str(source), "-vn", "-c:a", "aac", str(audio))
    meta.write_text(json.dumps({"job_id": job_id, "made_by": MARK}))
    worker.put(rendition, targets["rendition_240p"])
    worker.put(audio, targets["audio"])
    worker.put(meta, targets["metadata"])

    named = {"job_id": job_id, "video_id": "validate", "metadata": {"duration_s": info.duration_s}}
    validated = worker.post(job_id, "video-complete", named)
    assert validated.status_code == 200 and validated.json()["status"] == "processing"
    done = {"video_id": "rendition_240p", "s3_key": targets["rendition_240p"], "metadata": {"kind": "rendition"}}
    first = worker.post(job_id, "video-complete", done)
    assert first.status_code == 200, first.text
    before = _snapshot(user, job_id)
    again = worker.post(job_id, "video-complete", done)  # a retried callback: same answer, no change
    assert again.status_code == 200 and _snapshot(user, job_id) == before
    assert worker.post(job_id, "video-complete", {"video_id": "audio", "s3_key": targets["audio"]}).status_code == 200
    failed = {"video_id": "thumbnail_01", "error": "the GPU fell over", "error_type": "GpuCrashed"}
    assert worker.post(job_id, "video-failed", failed).status_code == 200
    assert _snapshot(user, job_id)["status"] == "processing"  # one step still open
    last = {"video_id": "metadata", "s3_key": targets["metadata"], "transcript_length": 1500}
    assert worker.post(job_id, "video-complete", last).status_code == 200

    doc = wait_for_job(user, f"/api/jobs/{job_id}", timeout=60)
    assert doc["status"] == "partial" and doc["progress"] == 100, doc
    items = {i["item_id"]: i for i in doc["items"]}
    assert items["rendition_240p"]["size"] == rendition.stat().st_size
    assert items["thumbnail_01"]["error_type"] == "GpuCrashed"
    assert items["metadata"]["metadata"] == {"transcript_length": 1500}

    zip_path = tmp_path / "results.zip"
    download(user, f"/api/jobs/{job_id}/results.zip", zip_path)
    manifest = unpack_and_verify_manifest(zip_path, tmp_path / "out")
    assert {e["name"] for e in manifest["entries"]} == {
        "renditions/talk_240p.mp4",
        "audio/talk.m4a",
        "thumbnails/talk_thumb_01.jpg.error.txt",
        "metadata.json",
        "errors.json",
    }
    assert (tmp_path / "out" / "renditions" / "talk_240p.mp4").read_bytes() == rendition.read_bytes()
    assert json.loads((tmp_path / "out" / "metadata.json").read_text())["made_by"] == MARK

    # after the end: a replay is still answered the same, a different report is refused
    assert worker.post(job_id, "video-complete", last).status_code == 200
    late = worker.post(job_id, "video-failed", {"video_id": "audio", "error": "late", "error_type": "Late"})
    assert late.status_code == 409 and late.json()["code"] == "job_finished"


def test_forged_stale_and_unsigned_callbacks_get_401_and_change_nothing(
    external: RunningServer, tmp_path: Path
) -> None:
    user = external.add_user()
    job_id = _create_job(user, tmp_path, {"renditions": ["240p"], "clips": {"count": 0}, "thumbnails": 0})["job_id"]
    before = _snapshot(user, job_id)
    report = {"video_id": "validate"}
    body = json.dumps(report).encode()
    url = f"{external.url}/internal/job/{job_id}/video-complete"
    now = int(time.time())

    attempts = {
        "unsigned": {},
        "wrong secret": sign_headers("not-the-secret", body),
        "stale": sign_headers(SECRET, body, timestamp=now - MAX_AGE_S - 60),
        "from the future": sign_headers(SECRET, body, timestamp=now + MAX_AGE_S + 60),
        "another body": sign_headers(SECRET, b'{"video_id": "audio"}'),
        "not hex": {**sign_headers(SECRET, body), "X-ReelDrop-Signature": "md5=abc"},
        "bad timestamp": {**sign_headers(SECRET, body), "X-ReelDrop-Timestamp": "yesterday"},
    }
    for name, headers in attempts.items():
        answer = requests.post(url, data=body, headers={"Content-Type": "application/json", **headers}, timeout=30)
        assert answer.status_code == 401, name
        assert answer.json()["code"] == "bad_signature", name
    unsigned_order = requests.get(f"{external.url}/internal/job/{job_id}", timeout=30)
    assert unsigned_order.status_code == 401
    replayed_path = sign_headers(SECRET, f"/internal/job/{'0' * 36}".encode())  # signed for another job
    assert requests.get(f"{external.url}/internal/job/{job_id}", headers=replayed_path, timeout=30).status_code == 401
    assert _snapshot(user, job_id) == before

    worker = PlayedWorker(external)
    outside = worker.post(job_id, "video-complete", {"video_id": "rendition_240p", "s3_key": "temp/other/file.mp4"})
    assert outside.status_code == 422 and outside.json()["code"] == "s3_key_outside_job"
    missing = {"video_id": "rendition_240p", "s3_key": f"videos/{job_id}/never-uploaded.mp4"}
    answer = worker.post(job_id, "video-complete", missing)
    assert answer.status_code == 409 and answer.json()["code"] == "output_missing"
    assert worker.post(job_id, "video-complete", {"s3_key": None}).status_code == 422
    assert worker.post("no-such-job", "video-complete", report).status_code == 404
    # A worker that names its job in the signed body: a captured call cannot be replayed to another job.
    for event, payload in (("video-complete", {}), ("video-failed", {"error": "x", "error_type": "boom"})):
        replayed = worker.post(job_id, event, {"job_id": "0" * 36, "video_id": "validate", **payload})
        assert replayed.status_code == 422 and replayed.json()["code"] == "job_id_mismatch", event
    assert _snapshot(user, job_id) == before


def test_cancel_and_a_failed_validation_in_external_mode(external: RunningServer, tmp_path: Path) -> None:
    user, worker = external.add_user(), PlayedWorker(external)
    options = {"renditions": ["240p"], "clips": {"count": 0}, "thumbnails": 0}
    cancelled = _create_job(user, tmp_path, options)["job_id"]
    assert worker.post(cancelled, "video-complete", {"video_id": "validate"}).status_code == 200
    assert user.call("POST", f"/api/jobs/{cancelled}/cancel").json()["status"] == "cancelled"
    assert worker.get(cancelled).json()["cancel_requested"] is True
    refused = worker.post(cancelled, "video-failed", {"video_id": "audio", "error": "x", "error_type": "X"})
    assert refused.status_code == 409 and refused.json()["code"] == "job_cancelled"

    failing = _create_job(user, tmp_path, options)["job_id"]
    report = {"video_id": "validate", "error": "not a video", "error_type": "not_media"}
    doc = worker.post(failing, "video-failed", report).json()
    assert doc["status"] == "failed" and doc["error"] == "not a video"
    assert {i["item_id"]: i["status"] for i in doc["items"]} == {
        "validate": "failed",
        "rendition_240p": "skipped",
        "audio": "skipped",
        "metadata": "skipped",
    }


@pytest.fixture(scope="module")
def trusting(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """External workers trusted to store their outputs where they like (seed 000's per-user layout)."""
    env = {"TRUST_WORKER_KEYS": "true"}
    with reeldrop_server(s3_endpoint, tmp_path_factory.mktemp("trusting"), env=env, external_workers=True) as running:
        yield running


def test_seed_000_lambda_reports_its_videos_and_says_when_it_is_through(
    trusting: RunningServer, tmp_path: Path
) -> None:
    # Seed 000's Lambda knows nothing of the planned validate/metadata steps: it stores a transcript per
    # video under its own user123/job456/ layout and reports each with the seed's body. Its last report
    # says "last": the steps it never reported are skipped, and the job completes with what it made.
    user, worker = trusting.add_user(), PlayedWorker(trusting)
    job_id = _create_job(user, tmp_path, {"renditions": [], "clips": {"count": 0}, "thumbnails": 0})["job_id"]
    bucket = trusting.services.config.bucket
    for key, content in (("user123/job456/dQw4w9WgXcQ.txt", "Test transcript 1"), ("user123/job456/v2.txt", "T2")):
        worker.s3.put_object(Bucket=bucket, Key=key, Body=content.encode("utf-8"), ContentType="text/plain")
    seed_body = {
        "video_id": "dQw4w9WgXcQ",
        "s3_key": "user123/job456/dQw4w9WgXcQ.txt",
        "transcript_length": 1500,
        "metadata": {"language": "en"},
    }
    first = worker.post(job_id, "video-complete", seed_body)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "processing"  # the planned steps are still open: more may come
    last = worker.post(job_id, "video-complete", {"video_id": "v2", "s3_key": "user123/job456/v2.txt", "last": True})
    assert last.status_code == 200, last.text
    doc = wait_for_job(user, f"/api/jobs/{job_id}", timeout=60)
    assert doc["status"] == "completed", doc
    statuses = {i["item_id"]: i["status"] for i in doc["items"]}
    assert statuses["dQw4w9WgXcQ"] == statuses["v2"] == "completed"
    assert {s for item, s in statuses.items() if item not in ("dQw4w9WgXcQ", "v2")} == {"skipped"}
    zip_path = tmp_path / "results.zip"
    download(user, f"/api/jobs/{job_id}/results.zip", zip_path)
    manifest = unpack_and_verify_manifest(zip_path, tmp_path / "out")
    names = {e["name"] for e in manifest["entries"]}
    assert any(name.endswith("dQw4w9WgXcQ.txt") for name in names), names
    assert worker.post(job_id, "finished", {}).json()["status"] == "completed"  # a repeat changes nothing


def test_finished_closes_a_job_after_a_failed_video_and_is_signed(trusting: RunningServer, tmp_path: Path) -> None:
    user, worker = trusting.add_user(), PlayedWorker(trusting)
    job_id = _create_job(user, tmp_path, {"renditions": [], "clips": {"count": 0}, "thumbnails": 0})["job_id"]
    bucket = trusting.services.config.bucket
    worker.s3.put_object(Bucket=bucket, Key=f"user1/{job_id}/a.txt", Body=b"A", ContentType="text/plain")
    assert worker.post(job_id, "video-complete", {"video_id": "a", "s3_key": f"user1/{job_id}/a.txt"}).ok
    failed = {"video_id": "b", "error": "No transcript available", "error_type": "TranscriptNotFound"}
    assert worker.post(job_id, "video-failed", failed).json()["status"] == "processing"
    unsigned = requests.post(f"{trusting.url}/internal/job/{job_id}/finished", json={}, timeout=30)
    assert unsigned.status_code == 401
    assert worker.post(job_id, "finished", {"job_id": "another-job"}).status_code == 422
    assert worker.post(job_id, "finished", {"job_id": job_id}).status_code == 200
    doc = wait_for_job(user, f"/api/jobs/{job_id}", timeout=60)
    assert doc["status"] == "partial" and "1 of 2" in doc["error"], doc


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ("temp/someone/upload/their-original.mp4", "s3_key_outside_job"),  # every user's originals
        ("user123/../temp/x.txt", "invalid_s3_key"),
        ("user123//x.txt", "invalid_s3_key"),
        ("./x.txt", "invalid_s3_key"),
    ],
)
def test_trusted_workers_still_cannot_point_at_originals_or_odd_keys(
    trusting: RunningServer, tmp_path: Path, key: str, code: str
) -> None:
    user, worker = trusting.add_user(), PlayedWorker(trusting)
    job_id = _create_job(user, tmp_path, {"renditions": [], "clips": {"count": 0}, "thumbnails": 0})["job_id"]
    refused = worker.post(job_id, "video-complete", {"video_id": "x", "s3_key": key})
    assert refused.status_code == 422 and refused.json()["code"] == code, refused.text


def test_without_trust_the_seed_layout_is_refused_with_the_setting_named(
    external: RunningServer, tmp_path: Path
) -> None:
    user, worker = external.add_user(), PlayedWorker(external)
    job_id = _create_job(user, tmp_path, {"renditions": [], "clips": {"count": 0}, "thumbnails": 0})["job_id"]
    refused = worker.post(job_id, "video-complete", {"video_id": "v", "s3_key": "user123/job456/v.txt"})
    assert refused.status_code == 422 and "TRUST_WORKER_KEYS" in refused.json()["detail"]


@contextmanager
def dispatching_server(s3_endpoint: str, data_dir: Path, **settings: str) -> Iterator[RunningServer]:
    """A server that hands each job over (the settings say to whom), telling the worker to call back at its
    own address."""
    port = free_port()
    env = {"API_BASE_URL": f"http://127.0.0.1:{port}", "TRUST_WORKER_KEYS": "true", **settings}
    with reeldrop_server(s3_endpoint, data_dir, env=env, port=port) as running:
        yield running


def _store_into(holder: dict[str, RunningServer]) -> Callable[[str, bytes], None]:
    def store(key: str, data: bytes) -> None:
        running = holder["server"]
        client = s3_client(running.s3_endpoint)
        client.put_object(Bucket=running.services.config.bucket, Key=key, Body=data, ContentType="text/plain")

    return store


@pytest.mark.parametrize("via", ["lambda", "webhook"])
def test_a_job_is_handed_to_the_lambda_or_webhook_which_calls_back_until_it_completes(
    s3_endpoint: str, tmp_path: Path, via: str
) -> None:
    holder: dict[str, RunningServer] = {}
    with worker_peer(SECRET, _store_into(holder)) as peer:
        settings = (
            {"LAMBDA_FUNCTION_NAME": "transcribe-videos", "LAMBDA_ENDPOINT_URL": peer.url}
            if via == "lambda"
            else {"WORKER_WEBHOOK_URL": f"{peer.url}/webhook"}
        )
        with dispatching_server(s3_endpoint, tmp_path / "server", **settings) as running:
            holder["server"] = running
            assert running.services.config.external_workers  # handed over: no worker of ours takes the job
            user = running.add_user()
            job = _create_job(user, tmp_path, {"renditions": [], "clips": {"count": 0}, "thumbnails": 0})
            assert peer.done.wait(60) and not peer.errors, peer.errors
            (invocation,) = peer.invocations
            assert invocation.via == via
            if via == "lambda":
                assert invocation.function == "transcribe-videos" and invocation.invocation_type == "Event"
            payload = invocation.payload
            assert payload["job_id"] == job["job_id"] and payload["source"]["s3_key"]
            base = f"{running.url}/internal/job/{job['job_id']}"
            assert payload["callbacks"]["video_complete"] == f"{base}/video-complete"
            assert payload["callbacks"]["finished"] == f"{base}/finished"
            assert SECRET not in json.dumps(payload)  # the worker signs with its own copy; it is never sent
            assert [r.status_code for r in peer.reports] == [200, 200], [r.text for r in peer.reports]
            doc = wait_for_job(user, f"/api/jobs/{job['job_id']}", timeout=60)
            assert doc["status"] == "completed", doc
            reported = {i["item_id"] for i in doc["items"] if i["status"] == "completed"}
            assert reported == {"dQw4w9WgXcQ", "second"}


def test_a_job_the_lambda_refuses_fails_at_once_with_the_reason(s3_endpoint: str, tmp_path: Path) -> None:
    holder: dict[str, RunningServer] = {}
    with worker_peer(SECRET, _store_into(holder)) as peer:
        peer.refuse_with = 403
        settings = {"LAMBDA_FUNCTION_NAME": "transcribe-videos", "LAMBDA_ENDPOINT_URL": peer.url}
        with dispatching_server(s3_endpoint, tmp_path / "server", **settings) as running:
            user = running.add_user()
            job = _create_job(user, tmp_path, {"renditions": [], "clips": {"count": 0}, "thumbnails": 0})
            doc = user.call("GET", f"/api/jobs/{job['job_id']}").json()
            assert doc["status"] == "failed" and "could not be handed to its worker" in doc["error"], doc
            assert {i["status"] for i in doc["items"]} == {"skipped"}


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"LAMBDA_FUNCTION_NAME": "f"}, "API_BASE_URL"),
        ({"LAMBDA_FUNCTION_NAME": "f", "WORKER_WEBHOOK_URL": "http://127.0.0.1:9/w", "API_BASE_URL": "x"}, "one"),
        ({"WORKER_WEBHOOK_URL": "http://127.0.0.1:9/w", "API_BASE_URL": "x", "WORKER_SECRET": ""}, "WORKER_SECRET"),
    ],
)
def test_dispatch_settings_that_cannot_work_stop_the_start_with_a_sentence(
    s3_endpoint: str, tmp_path: Path, settings: dict, words: str
) -> None:
    with pytest.raises(ValueError, match=words), reeldrop_server(s3_endpoint, tmp_path / "server", env=settings):
        pass


def test_seed_000_complete_workflow_selected_videos_to_the_lambda_and_back_as_one_zip(
    s3_endpoint: str, tmp_path: Path
) -> None:
    # 1. Create a job with /channel/download/selected; 2. the Lambda reports each video (one has no
    # transcript); 3. download the results from /channel/download/results/{job_id}: a folder per video.
    holder: dict[str, RunningServer] = {}
    with worker_peer(SECRET, _store_into(holder)) as peer:
        settings = {"LAMBDA_FUNCTION_NAME": "transcribe-videos", "LAMBDA_ENDPOINT_URL": peer.url}
        with dispatching_server(s3_endpoint, tmp_path / "server", **settings) as running:
            holder["server"] = running
            user = running.add_user()
            selected = {"video_ids": ["dQw4w9WgXcQ", "9bZkp7q19f0", "missing-one"], "channel_id": "UC123"}
            created = user.call("POST", "/channel/download/selected", json=selected)
            assert created.status_code == 200, created.text
            job = created.json()
            assert job["results_url"] == f"/channel/download/results/{job['job_id']}"
            assert peer.done.wait(60) and not peer.errors, peer.errors
            assert [r.status_code for r in peer.reports] == [200, 200, 200], [r.text for r in peer.reports]
            assert "url" not in peer.invocations[0].payload["source"]  # no original here: the worker fetches
            doc = wait_for_job(user, f"/api/jobs/{job['job_id']}", timeout=60)
            assert doc["status"] == "partial" and doc["options"]["channel_id"] == "UC123", doc
            zip_path = tmp_path / "results.zip"
            download(user, job["results_url"], zip_path)
            manifest = unpack_and_verify_manifest(zip_path, tmp_path / "out")
            names = {e["name"] for e in manifest["entries"]}
            assert {"dQw4w9WgXcQ/dQw4w9WgXcQ.txt", "9bZkp7q19f0/9bZkp7q19f0.txt"} <= names, names
            assert "missing-one/missing-one.error.txt" in names and "errors.json" in names
            text = (tmp_path / "out" / "dQw4w9WgXcQ" / "dQw4w9WgXcQ.txt").read_text()
            assert text == "Transcript of dQw4w9WgXcQ"


def test_selected_videos_need_an_external_worker_and_valid_ids(
    server: RunningServer, user: User, tmp_path: Path
) -> None:
    path = "/channel/download/selected"
    refused = user.call("POST", path, json={"video_ids": ["abc"]})
    assert refused.status_code == 409 and refused.json()["code"] == "no_external_worker"
    for body in ({"video_ids": []}, {"video_ids": ["../etc"]}, {}, {"video_ids": "abc"}):
        assert user.call("POST", path, json=body).status_code == 422, body
    assert requests.post(f"{server.url}{path}", json={"video_ids": ["a"]}, timeout=10).status_code == 401
    # A job on an upload cannot be given "videos" to change what it plans.
    data = upload(user, make_clip(tmp_path / "talk.mp4", seconds=1, size="160x120"))
    sneaked = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": {"videos": ["a"]}})
    assert sneaked.status_code == 422 and sneaked.json()["code"] == "invalid_options", sneaked.text


def test_a_captured_callback_cannot_be_replayed_to_another_job_or_again(
    external: RunningServer, tmp_path: Path
) -> None:
    """Issue 14 item 6: a signed video-failed captured for Alice's job, played byte for byte to Bob's."""
    alice, bob = external.add_user(), external.add_user()
    options = {"renditions": ["240p"], "clips": {"count": 0}, "thumbnails": 0}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    alices = _create_job(alice, tmp_path / "a", options)["job_id"]
    bobs = _create_job(bob, tmp_path / "b", options)["job_id"]
    bob_before = _snapshot(bob, bobs)
    failure = json.dumps({"video_id": "rendition_240p", "error": "boom", "error_type": "Boom"}).encode()

    def send(job_id: str, headers: dict[str, str], body: bytes = failure) -> requests.Response:
        url = f"{external.url}/internal/job/{job_id}/video-failed"
        return requests.post(url, data=body, headers={"Content-Type": "application/json", **headers}, timeout=30)

    # The first scheme signs no route: without job_id in the body it binds nothing, and is refused.
    legacy = sign_headers(SECRET, failure)
    assert send(bobs, legacy).status_code == 401 and send(alices, legacy).status_code == 401
    # v2 signs the route: Alice's call does not verify on Bob's.
    captured = sign_headers(SECRET, failure, method="POST", target=f"/internal/job/{alices}/video-failed")
    refused = send(bobs, captured)
    assert refused.status_code == 401 and refused.json()["code"] == "bad_signature", refused.text
    assert _snapshot(bob, bobs) == bob_before
    # The seed's own form: the first scheme with the job named in the signed body still works.
    named = json.dumps({"job_id": alices, "video_id": "audio", "error": "x", "error_type": "X"}).encode()
    assert send(alices, sign_headers(SECRET, named), named).status_code == 200
    # Alice's call again, after her worker reported otherwise, is answered and changes nothing.
    worker = PlayedWorker(external)
    assert worker.post(alices, "video-complete", {"video_id": "validate"}).status_code == 200
    assert send(alices, captured).status_code == 200  # the first time: applied
    assert worker.post(alices, "video-complete", {"video_id": "rendition_240p"}).status_code == 200
    replay = send(alices, captured)
    assert replay.status_code == 200, replay.text
    rendition = next(i for i in replay.json()["items"] if i["item_id"] == "rendition_240p")
    assert rendition["status"] == "completed", rendition  # the replayed "failed" was not applied again
