"""Job polling: the backoff schedule on its own, then JobPoller against the real server over HTTP."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from app.core.api import AuthRequired, BackendClient
from app.core.jobs import JobPoller, JobPollError, JobProgress, JobStatus, JobWaitTimeout, PollSchedule, wait_for_job
from app.core.results.download import download_results
from app.core.results.extract import extract_results
from app.core.transfer.control import TransferCancelled, TransferControl
from tests.support.faultproxy import INTERNAL_ERROR_XML, FaultProxy
from tests.support.files import make_clip
from tests.support.servers import RunningServer, User, reeldrop_server

FAST = PollSchedule(initial=0.05, maximum=0.3)


def lowest(a: float, b: float) -> float:
    return a


def highest(a: float, b: float) -> float:
    return b


def test_the_schedule_grows_to_its_cap_and_stays_inside_the_jitter() -> None:
    schedule = PollSchedule()
    assert [round(schedule.base_delay(n), 4) for n in range(7)] == [0.5, 0.75, 1.125, 1.6875, 2.5312, 3.7969, 5.0]
    assert schedule.base_delay(50) == 5.0
    assert schedule.delay(0, lowest) == pytest.approx(0.4) and schedule.delay(0, highest) == pytest.approx(0.6)
    assert schedule.delay(3, lowest) == pytest.approx(1.6875 * 0.8)
    assert schedule.delay(40, highest) == 5.0 and schedule.delay(40, lowest) == pytest.approx(4.0)


def make_job(client: BackendClient, clip: Path) -> str:
    data = client.presign(clip.name, clip.stat().st_size, "video/mp4")
    assert data["method"] == "POST"
    with open(clip, "rb") as body:
        posted = requests.post(data["upload_url"], data=data["upload_fields"], files={"file": body}, timeout=30)
    assert posted.status_code == 204
    client.complete(data["upload_id"])
    return client.create_job(data["upload_id"])["job_id"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=1, size="160x120")


@pytest.fixture(scope="module")
def idle_server(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose worker does not run: its jobs stay pending for as long as a test needs."""
    with reeldrop_server(s3_endpoint, tmp_path_factory.mktemp("idle"), run_worker=False) as running:
        yield running


def test_a_job_is_followed_to_the_end_and_its_results_fetched(user: User, clip: Path, tmp_path: Path) -> None:
    client = BackendClient(user.base_url, user.token)
    job_id = make_job(client, clip)
    seen: list[JobProgress] = []
    waits: list[float] = []
    control = TransferControl()

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        control.stop_event.wait(seconds)

    poller = JobPoller(client, job_id, schedule=FAST, max_wait=120, on_progress=seen.append, sleep=sleep)
    document = poller.wait()
    assert document["status"] == "completed" and document["progress"] == 100
    assert poller.latest is not None and poller.latest.finished and poller.latest.document is document
    statuses = [item.status for item in seen]
    assert statuses[-1] == "completed" and set(statuses) <= {"pending", "processing", "completed"}
    assert "processing" in statuses  # a 1 s clip takes seconds to process: the poll sees it working
    order = {"pending": 0, "processing": 1, "completed": 2}
    assert [order[s] for s in statuses] == sorted(order[s] for s in statuses)  # never goes backwards
    assert all(earlier.progress <= later.progress for earlier, later in itertools.pairwise(seen))
    assert len(waits) == len(seen) - 1 and all(0 < wait <= FAST.maximum for wait in waits)
    for index, wait in enumerate(waits):  # the wait after a poll that saw a change is back at the start
        now, before = seen[index], seen[index - 1] if index else None
        if before is None or (now.status, now.progress) != (before.status, before.progress):
            assert wait <= FAST.initial * (1 + FAST.jitter)

    result = download_results(client, job_id, tmp_path / "results.zip")
    assert result.sha256 == hashlib.sha256((tmp_path / "results.zip").read_bytes()).hexdigest()
    assert document["result"] == {"zip_size": result.size, "zip_sha256": result.sha256}
    extracted = extract_results(result.path, tmp_path / "results")
    assert "metadata.json" in extracted.files
    assert all((tmp_path / "results" / name).is_file() for name in extracted.files)


def test_a_failed_job_is_an_answer_not_an_exception(user: User, tmp_path: Path) -> None:
    client = BackendClient(user.base_url, user.token)
    fake = tmp_path / "invoice.mp4"
    fake.write_bytes(b"MZ" + b"\x00" * 4000)  # not a video
    document = wait_for_job(client, make_job(client, fake), schedule=FAST, max_wait=120)
    assert document["status"] == JobStatus.FAILED and document["items"][0]["error_type"]


def test_the_deadline_ends_the_wait_with_the_last_status(idle_server: RunningServer, clip: Path) -> None:
    user = idle_server.add_user()
    client = BackendClient(user.base_url, user.token)
    job_id = make_job(client, clip)
    seen: list[JobProgress] = []
    with pytest.raises(JobWaitTimeout) as caught:
        wait_for_job(client, job_id, schedule=FAST, max_wait=0.4, on_progress=seen.append)
    assert job_id in str(caught.value) and "still pending at 0%" in str(caught.value)
    assert len(seen) >= 2 and {item.status for item in seen} == {"pending"}


def test_cancel_stops_waiting_and_a_cancelled_job_ends_the_poll(idle_server: RunningServer, clip: Path) -> None:
    user = idle_server.add_user()
    client = BackendClient(user.base_url, user.token)
    job_id = make_job(client, clip)
    control = TransferControl()
    polls: list[JobProgress] = []

    def cancel_after_first(progress: JobProgress) -> None:
        polls.append(progress)
        control.cancel()

    with pytest.raises(TransferCancelled):
        wait_for_job(client, job_id, schedule=PollSchedule(initial=30, maximum=30), control=control,
                     on_progress=cancel_after_first)  # fmt: skip
    assert len(polls) == 1  # the 30 s wait was cut short by the cancel, no second poll
    client.cancel_job(job_id)
    assert wait_for_job(client, job_id, schedule=FAST)["status"] == "cancelled"


def test_server_errors_do_not_end_the_poll_but_missing_jobs_and_bad_tokens_do(user: User, clip: Path) -> None:
    host, port = urlsplit(user.base_url).hostname, urlsplit(user.base_url).port
    with FaultProxy((host or "127.0.0.1", port or 80)) as proxy:
        client = BackendClient(proxy.url, user.token, attempts=1)  # no client-side retry: the poller copes
        job_id = make_job(client, clip)
        proxy.respond(500, INTERNAL_ERROR_XML, count=2, match=b"GET /api/jobs/")
        poller = JobPoller(client, job_id, schedule=FAST, max_wait=120)
        assert poller.wait()["status"] == "completed"
        assert proxy.fired == {"respond 500": 2}
        assert poller.latest is not None and poller.latest.transient_errors == 2
        assert "500" in (poller.latest.last_error or "")
    client = BackendClient(user.base_url, user.token)
    with pytest.raises(JobPollError, match="does not exist"):
        wait_for_job(client, str(uuid.uuid4()), schedule=FAST)  # well formed, but no such job
    with pytest.raises(JobPollError, match="is not a job id"):
        wait_for_job(client, "no-such-job", schedule=FAST)
    with pytest.raises(AuthRequired):
        wait_for_job(BackendClient(user.base_url, "not-a-token"), job_id, schedule=FAST)
