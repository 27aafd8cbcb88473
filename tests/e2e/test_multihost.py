"""The production shape: PostgreSQL, a Redis queue and two `reeldrop-server worker` processes.

The API server runs no worker of its own; the two workers are separate processes with separate data
folders (as on two machines) that share only QUEUE_URL, DATABASE_URL and S3. Skipped, with the reason,
when REELDROP_TEST_REDIS_URL / REELDROP_TEST_DATABASE_URL are not set or not reachable
(``eval "$(.ci/services.sh)"`` starts both on 127.0.0.1). Every process here uses a short heartbeat
timeout, so a worker killed mid-job is noticed within seconds.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.server.db import Job
from tests.server.test_jobs import upload
from tests.server.test_processing import FULL_OPTIONS, check_complete_results, download, exists
from tests.server.test_seed_clients import wait_for_job
from tests.support.files import make_clip, sha256_of
from tests.support.servers import TEST_ACCESS_KEY, TEST_SECRET_KEY, RunningServer, reeldrop_server
from tests.support.shared_services import DATABASE_URL, REDIS_URL, postgres_unreachable, redis_unreachable

HEARTBEAT_TIMEOUT_S = 5  # beats every 1.25 s; a lost worker's job is taken back within ~6.5 s


def _unreachable() -> str | None:
    return redis_unreachable() or postgres_unreachable()


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def _worker_command() -> list[str]:
    script = Path(sys.executable).with_name("reeldrop-server")
    if script.exists():
        return [str(script)]
    found = shutil.which("reeldrop-server")
    return [found] if found else [sys.executable, "-m", "app.server.cli"]


def _start_worker(folder: Path, env: dict[str, str]) -> Worker:
    folder.mkdir(parents=True)
    log = folder / "worker.log"
    argv = [*_worker_command(), "--data-dir", str(folder / "data"), "worker", "--threads", "1"]
    with open(log, "wb") as out:
        # A session of its own: killing its process group takes its ffmpeg too, as a machine that dies would.
        process = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    return Worker(process, log, env)


def _wait_ready(workers: list[Worker]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for worker in workers:
            assert worker.process.poll() is None, f"a worker exited early:\n{worker.text()}"
        if all(" ready: " in worker.text() for worker in workers):
            return
        time.sleep(0.1)
    raise AssertionError("the workers did not start:\n" + "\n".join(w.text() for w in workers))


def _stop(workers: list[Worker]) -> None:
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait(timeout=10)


@pytest.fixture(scope="module")
def production(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, list]]:
    reason = _unreachable()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("multihost")
    queue_name = f"reeldrop-test-{secrets.token_hex(4)}"  # this run's own queue in the shared Redis
    shared = {"QUEUE_URL": REDIS_URL, "DATABASE_URL": DATABASE_URL}
    heartbeat = {"REELDROP_JOB_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S)}
    extra = {"REELDROP_QUEUE_NAME": queue_name, **heartbeat}
    with reeldrop_server(s3_endpoint, folder / "api", env=shared, extra=extra, run_worker=False) as server:
        env = {
            **os.environ,
            **shared,
            "S3_ENDPOINT_URL": server.s3_endpoint,
            "S3_BUCKET_NAME": server.services.config.bucket,
            "AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": TEST_SECRET_KEY,
            "AWS_REGION": "us-east-1",
            "WORKER_SECRET": server.services.config.worker_secret,
            "REELDROP_QUEUE_NAME": queue_name,
            "REELDROP_X264_PRESET": "ultrafast",
            **heartbeat,
        }
        workers = [_start_worker(folder / f"host-{n}", env) for n in (1, 2)]
        try:
            _wait_ready(workers)
            yield server, workers
        finally:
            _stop(workers)
            server.services.queue.huey.flush()  # type: ignore[attr-defined]


def _worker_of(job_id: str, workers: list[Worker]) -> int:
    hits = [n for n, w in enumerate(workers) if re.search(rf"job {job_id}: processing on worker", w.text())]
    assert len(hits) == 1, f"job {job_id} ran on workers {hits}"
    return hits[0]


def test_two_worker_processes_on_redis_and_postgresql_finish_the_jobs(production: tuple, tmp_path: Path) -> None:
    server, workers = production
    assert server.services.db.url.startswith("postgresql")
    user = server.add_user()

    long_upload = upload(user, make_clip(tmp_path / "holiday.mp4", seconds=10, size="640x360"))
    first = user.call("POST", "/api/jobs", json={"upload_id": long_upload["upload_id"], "options": FULL_OPTIONS})
    first = first.json()
    deadline = time.monotonic() + 60
    while user.call("GET", first["status_url"]).json()["status"] == "pending":  # one worker has taken it
        assert time.monotonic() < deadline, "no worker took the job"
        time.sleep(0.1)
    short_upload = upload(user, make_clip(tmp_path / "short.mp4", seconds=2, size="320x240"))
    options = {"renditions": ["240p"], "clips": {"count": 1}, "thumbnails": 1, "delete_after_processing": False}
    second = user.call("POST", "/api/jobs", json={"upload_id": short_upload["upload_id"], "options": options}).json()

    doc = wait_for_job(user, first["status_url"], timeout=180)
    other = wait_for_job(user, second["status_url"], timeout=180)
    assert doc["status"] == "completed", doc
    assert other["status"] == "completed", other
    # the second job went to the idle worker while the first one was busy: two processes, one queue
    assert {_worker_of(first["job_id"], workers), _worker_of(second["job_id"], workers)} == {0, 1}

    zip_path = tmp_path / "results.zip"
    download(user, f"/api/jobs/{first['job_id']}/results.zip", zip_path)
    assert sha256_of(zip_path) == doc["result"]["zip_sha256"]
    check_complete_results(doc, zip_path, tmp_path / "unpacked", "holiday", 10.0, clips=3)
    assert not exists(server, doc["s3_key"]) and exists(server, short_upload["s3_key"])


def test_a_cancel_reaches_a_worker_on_another_host(production: tuple, tmp_path: Path) -> None:
    """The API process and the worker share only the database: the cancel flag must be enough."""
    server, _workers = production
    user = server.add_user()
    data = upload(user, make_clip(tmp_path / "long.mp4", seconds=60, size="640x360"))
    options = {"renditions": ["360p", "240p"], "audio": True, "clips": {"count": 6}, "thumbnails": 6}
    job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": options}).json()
    deadline = time.monotonic() + 60
    while True:
        doc = user.call("GET", job["status_url"]).json()
        if any(i["kind"] == "rendition" and i["status"] == "processing" for i in doc["items"]):
            break
        assert doc["status"] in ("pending", "processing") and time.monotonic() < deadline, doc
        time.sleep(0.05)
    assert user.call("POST", f"/api/jobs/{job['job_id']}/cancel").status_code == 200
    doc = wait_for_job(user, job["status_url"], timeout=60)
    assert doc["status"] == "cancelled", doc
    assert "cancelled" in {i["status"] for i in doc["items"]} and doc["error"] == "Cancelled while processing."
    assert exists(server, data["s3_key"])  # a cancelled job keeps its original


def test_a_job_whose_worker_is_killed_mid_encode_is_finished_by_the_other_worker(
    production: tuple, tmp_path: Path
) -> None:
    """SIGKILL of a worker (and its ffmpeg) mid-job: its heartbeat stops, a sweep takes the job back and
    queues it again, the other worker finishes it, keeping the rendition the lost one had finished."""
    server, workers = production
    user = server.add_user()
    data = upload(user, make_clip(tmp_path / "doomed.mp4", seconds=30, size="640x360"))
    options = {"renditions": ["360p", "240p"], "audio": False, "clips": {"count": 1}, "thumbnails": 1}
    job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": options}).json()
    job_id = job["job_id"]

    deadline = time.monotonic() + 60
    while True:  # until the first rendition is done and the job goes on to its next ffmpeg step
        doc = user.call("GET", job["status_url"]).json()
        done = {i["item_id"]: i for i in doc["items"] if i["status"] == "completed"}
        if "rendition_360p" in done:
            break
        assert doc["status"] in ("pending", "processing") and time.monotonic() < deadline, doc
        time.sleep(0.05)
    victim = _worker_of(job_id, workers)
    os.killpg(workers[victim].process.pid, signal.SIGKILL)
    workers[victim].process.wait(timeout=10)
    killed_at = time.monotonic()
    assert doc["status"] == "processing", doc  # the kill landed mid-job
    survivor = workers[1 - victim]

    # The status document stays honest while the job changes hands: never failed, never 100 % early.
    seen: list[tuple[str, int]] = []
    deadline = killed_at + HEARTBEAT_TIMEOUT_S + 60
    while True:
        doc = user.call("GET", job["status_url"]).json()
        seen.append((doc["status"], doc["progress"]))
        if doc["status"] not in ("pending", "processing"):
            break
        assert time.monotonic() < deadline, f"the job was not finished after the kill: {doc}"
        time.sleep(0.1)
    recovered_in = time.monotonic() - killed_at
    assert doc["status"] == "completed", doc
    assert all(status in ("processing", "pending") and progress < 100 for status, progress in seen[:-1]), seen
    assert all(progress == 0 for status, progress in seen if status == "pending"), seen
    assert recovered_in < HEARTBEAT_TIMEOUT_S + 45

    log = survivor.text()
    assert re.search(rf"job {job_id}: processing on worker", log), log
    for item_id, item in done.items():  # what the lost worker finished was kept, not made again
        if item["kind"] != "validate":
            assert f"job {job_id}: {item_id} kept from the attempt before" in log, log
            after = next(i for i in doc["items"] if i["item_id"] == item_id)
            assert (after["s3_key"], after["size"], after["metadata"]) == (
                item["s3_key"],
                item["size"],
                item["metadata"],
            )
    with server.services.db.session() as session:
        stored = session.get(Job, job_id)
        assert stored is not None and stored.worker_losses == 1

    zip_path = tmp_path / "results.zip"
    download(user, f"/api/jobs/{job_id}/results.zip", zip_path)
    assert sha256_of(zip_path) == doc["result"]["zip_sha256"]
    assert {i["status"] for i in doc["items"]} == {"completed"}

    # Leave two live workers for the module's other tests.
    folder = workers[victim].log.parent
    workers[victim] = _start_worker(folder.with_name(folder.name + "-again"), workers[victim].env)
    _wait_ready(workers)
