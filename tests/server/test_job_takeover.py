"""The stale-job sweep against a real database (SQLite, and PostgreSQL where .ci/services.sh runs it).

A worker's silence is simulated by moving its heartbeat into the past; everything else is the code the
server and the workers run: the lease, its fenced writes, the compare-and-set take-over, the loss limit.
The end-to-end version (a real worker SIGKILLed mid-encode) is in tests/e2e/test_multihost.py.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update

from app.server.db import Database, Job, JobItem, User
from app.server.worker.errors import JobTakenOver
from app.server.worker.lease import JobLease, database_now
from app.server.worker.pipeline import process_job
from app.server.worker.plan import PlannedItem
from app.server.worker.settings import WorkerSettings
from app.server.worker.state import JobRecorder, kept_outputs, reset_to_pending
from app.server.worker.takeover import StaleJob, StaleJobSweeper, find_stale_jobs, sweep_stale_jobs, take_over
from tests.server.test_jobs import upload
from tests.server.test_processing import exists
from tests.support.files import make_clip
from tests.support.servers import reeldrop_server
from tests.support.shared_services import DATABASE_URL, postgres_unreachable
from tests.support.waiting import wait_until

TIMEOUT_S = 30  # long: nothing here goes stale unless a test moves its heartbeat back


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "postgresql":
        reason = postgres_unreachable()
        if reason:
            pytest.skip(reason)
        url = DATABASE_URL
    else:
        url = f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    database = Database(url)
    database.create_all()
    try:
        yield database
    finally:
        database.dispose()


def new_job(db: Database) -> str:
    """A pending job with four planned steps, as ensure_plan leaves it."""
    with db.session() as session:
        user = User(username=f"takeover-{secrets.token_hex(4)}", password_hash="-", quota_bytes=0)
        session.add(user)
        session.flush()
        job = Job(user_id=user.id, s3_key="temp/u/clip.mp4", options={})
        steps = ("validate", "validate"), ("rendition_240p", "rendition"), ("thumbnail_01", "thumbnail")
        for position, (item_id, kind) in enumerate([*steps, ("metadata", "metadata")]):
            job.items.append(JobItem(item_id=item_id, kind=kind, position=position))
        session.add(job)
        session.flush()
        return job.id


def claim(db: Database, job_id: str) -> JobLease:
    lease = JobLease.claim(db, job_id, TIMEOUT_S)
    assert lease is not None
    return lease


def fall_silent(db: Database, job_id: str, seconds: float = 3600) -> None:
    """What a dead worker leaves: a heartbeat that gets older and older."""
    with db.session() as session:
        past = database_now(session) - timedelta(seconds=seconds)
        session.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=past))


def stale_one(db: Database, job_id: str):
    found = [s for s in find_stale_jobs(db, TIMEOUT_S) if s.job_id == job_id]
    assert len(found) == 1, found
    return found[0]


def job_row(db: Database, job_id: str) -> Job:
    with db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        _ = job.items  # loaded while the session is open
        return job


def items(job: Job) -> dict[str, tuple[str, str | None]]:
    return {i.item_id: (i.status, i.error_type) for i in job.items}


def test_a_beating_worker_keeps_its_job(db: Database) -> None:
    job_id = new_job(db)
    lease = claim(db, job_id)
    assert JobLease.claim(db, job_id, TIMEOUT_S) is None  # one claim only
    assert not [s for s in find_stale_jobs(db, TIMEOUT_S) if s.job_id == job_id]
    assert lease.beat() and not lease.lost.is_set()
    job = job_row(db, job_id)
    assert job.status == "processing" and job.worker_id == lease.worker_id and job.heartbeat_timeout_s == TIMEOUT_S


def test_a_silent_worker_loses_its_job_to_exactly_one_of_many_sweepers(db: Database) -> None:
    job_id = new_job(db)
    lease = claim(db, job_id)
    recorder = JobRecorder(lease, (PlannedItem("rendition_240p", "rendition", "videos/j/clip_240p.mp4"),))
    recorder.start("validate")
    recorder.finish("validate", "completed")
    recorder.start("rendition_240p")
    recorder.finish("rendition_240p", "completed", s3_key="videos/j/clip_240p.mp4", size=1234)
    recorder.start("thumbnail_01")
    recorder.finish("thumbnail_01", "failed", error="disk on fire", error_type="internal_error")
    fall_silent(db, job_id)
    stale = stale_one(db, job_id)

    # Eight sweepers in as many "processes" (an engine each) race for the same stale lease.
    engines = [Database(db.url) for _ in range(8)]
    barrier = threading.Barrier(len(engines))

    def sweep(engine: Database) -> str | None:
        barrier.wait(timeout=10)
        return take_over(engine, stale, max_losses=3)

    try:
        with ThreadPoolExecutor(len(engines)) as pool:
            outcomes = list(pool.map(sweep, engines, timeout=60))
    finally:
        for engine in engines:
            engine.dispose()
    assert outcomes.count("requeued") == 1 and outcomes.count(None) == 7, outcomes

    job = job_row(db, job_id)
    assert (job.status, job.progress, job.error, job.worker_id, job.heartbeat_at) == ("pending", 0, None, None, None)
    assert job.worker_losses == 1 and job.result_key is None
    # completed steps stay (their outputs are in storage); the lost attempt's failure is forgotten
    assert items(job) == {
        "validate": ("completed", None),
        "rendition_240p": ("completed", None),
        "thumbnail_01": ("pending", None),
        "metadata": ("pending", None),
    }
    assert {k: (v.s3_key, v.size) for k, v in kept_outputs(db, job_id).items()} == {
        "rendition_240p": ("videos/j/clip_240p.mp4", 1234)
    }


def test_the_compare_and_set_matches_a_heartbeat_as_the_database_stamped_it(db: Database) -> None:
    """No rounding between the database clock's stamp and the value the sweep reads back and compares."""
    job_id = new_job(db)
    lease = claim(db, job_id)
    assert lease.beat()
    job = job_row(db, job_id)
    stale = StaleJob(job_id, lease.worker_id, job.heartbeat_at, 0, False, None)
    assert take_over(db, stale, max_losses=3) == "requeued"


def test_a_heartbeat_after_the_sweep_read_it_keeps_the_job(db: Database) -> None:
    job_id = new_job(db)
    lease = claim(db, job_id)
    fall_silent(db, job_id)
    stale = stale_one(db, job_id)
    assert lease.beat()  # slow, not dead: it beats between the sweep's read and its UPDATE
    assert take_over(db, stale, max_losses=3) is None
    job = job_row(db, job_id)
    assert job.status == "processing" and job.worker_id == lease.worker_id and job.worker_losses == 0


def test_a_worker_whose_job_was_taken_over_writes_nothing_more(db: Database) -> None:
    job_id = new_job(db)
    old = claim(db, job_id)
    fall_silent(db, job_id)
    assert sweep_stale_jobs(db, TIMEOUT_S, 3)["requeued"].count(job_id) == 1
    new = claim(db, job_id)  # the same process may win it back: still a lease of its own
    assert new.worker_id != old.worker_id

    recorder = JobRecorder(old, ())
    with pytest.raises(JobTakenOver):
        recorder.start("rendition_240p")
    assert old.lost.is_set()
    assert not old.beat()
    with pytest.raises(JobTakenOver):  # a stopping worker hands back only a job that is still its own
        reset_to_pending(db, job_id, old)
    with pytest.raises(JobTakenOver), old.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(error="stale write"))

    job = job_row(db, job_id)
    assert job.status == "processing" and job.worker_id == new.worker_id and job.error is None
    assert items(job)["rendition_240p"] == ("pending", None)
    assert new.beat() and not new.lost.is_set()


def test_a_take_over_waits_for_a_write_in_flight_and_then_wins(db: Database) -> None:
    """The fence holds the job's row: the sweep's UPDATE runs after the worker's write, never in between."""
    job_id = new_job(db)
    lease = claim(db, job_id)
    fall_silent(db, job_id)
    stale = stale_one(db, job_id)
    inside, release = threading.Event(), threading.Event()

    def slow_write() -> None:
        with lease.session() as session:
            session.execute(update(JobItem).where(JobItem.job_id == job_id).values(status="processing"))
            inside.set()
            assert release.wait(timeout=30)

    sweeper_db = Database(db.url)  # another process's connection
    try:
        with ThreadPoolExecutor(2) as pool:
            writing = pool.submit(slow_write)
            assert inside.wait(timeout=10)
            sweeping = pool.submit(take_over, sweeper_db, stale, 3)
            with pytest.raises(TimeoutError):
                sweeping.result(timeout=0.5)  # blocked behind the worker's transaction
            release.set()
            writing.result(timeout=30)
            assert sweeping.result(timeout=30) == "requeued"
    finally:
        release.set()
        sweeper_db.dispose()
    job = job_row(db, job_id)
    assert job.status == "pending" and {s for s, _ in items(job).values()} == {"pending"}


def test_the_third_loss_fails_the_job_and_says_why(db: Database) -> None:
    job_id = new_job(db)
    for loss in (1, 2, 3):
        lease = claim(db, job_id)
        if loss == 1:
            recorder = JobRecorder(lease, ())
            recorder.start("rendition_240p")
            recorder.finish("rendition_240p", "completed", s3_key="videos/j/clip_240p.mp4", size=1)
        fall_silent(db, job_id)
        outcomes = sweep_stale_jobs(db, TIMEOUT_S, max_losses=3)
        expected = "failed" if loss == 3 else "requeued"
        assert job_id in outcomes[expected], (loss, outcomes)

    job = job_row(db, job_id)
    assert job.status == "failed" and job.progress == 100 and job.worker_losses == 3
    assert "the worker processing it stopped responding 3 times" in job.error.lower()
    assert items(job) == {
        "validate": ("failed", "worker_lost"),
        "rendition_240p": ("completed", None),
        "thumbnail_01": ("failed", "worker_lost"),
        "metadata": ("failed", "worker_lost"),
    }
    assert JobLease.claim(db, job_id, TIMEOUT_S) is None  # a failed job is never run again
    assert not [s for s in find_stale_jobs(db, TIMEOUT_S) if s.job_id == job_id]


def test_a_job_cancelled_while_its_worker_was_lost_ends_cancelled(db: Database) -> None:
    job_id = new_job(db)
    claim(db, job_id)
    with db.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))
    fall_silent(db, job_id)
    assert job_id in sweep_stale_jobs(db, TIMEOUT_S, 3)["cancelled"]
    job = job_row(db, job_id)
    assert job.status == "cancelled" and {s for s, _ in items(job).values()} == {"cancelled"}


def test_jobs_of_external_workers_are_never_swept(db: Database) -> None:
    """Callback-driven jobs have no lease and no heartbeat: only their callbacks end them."""
    job_id = new_job(db)
    with db.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(status="processing"))
    assert job_id not in {s.job_id for s in find_stale_jobs(db, 1)}


def test_a_job_the_queue_refused_is_queued_at_the_next_sweep(db: Database) -> None:
    job_id = new_job(db)
    claim(db, job_id)
    fall_silent(db, job_id)
    queued: list[str] = []
    refusals = iter([ConnectionError("redis is down")])

    def enqueue(queued_id: str) -> None:
        refusal = next(refusals, None)
        if refusal is not None:
            raise refusal
        queued.append(queued_id)

    sweeper = StaleJobSweeper(db, TIMEOUT_S, 3, enqueue)
    assert job_id in sweeper.sweep_once()["requeued"] and job_id not in queued
    sweeper.sweep_once()
    assert queued.count(job_id) == 1


def test_the_lease_columns_are_added_to_an_older_database(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    try:
        db.create_all()
        job_id = new_job(db)
        with db.engine.begin() as conn:  # the jobs table as a release before leases made it, with a job in it
            for column in ("worker_id", "heartbeat_at", "heartbeat_timeout_s", "worker_losses"):
                conn.execute(text(f"ALTER TABLE jobs DROP COLUMN {column}"))
            conn.execute(text("DROP TABLE alembic_version"))  # nor migrations (tests/server/test_migrations.py)
        db.create_all()
        assert job_row(db, job_id).worker_losses == 0
        lease = claim(db, job_id)
        fall_silent(db, job_id)
        assert job_id in sweep_stale_jobs(db, TIMEOUT_S, 3)["requeued"]
        assert not lease.beat()
    finally:
        db.dispose()


def test_a_slow_worker_whose_job_is_taken_mid_encode_stops_and_writes_nothing(s3_endpoint: str, tmp_path: Path) -> None:
    """Not dead, only silent too long (a database outage, a frozen VM): once the job is someone else's,
    the worker kills its ffmpeg at its next write and leaves the job exactly as the take-over left it."""
    extra = {"REELDROP_X264_PRESET": "veryslow", "REELDROP_JOB_HEARTBEAT_TIMEOUT": str(TIMEOUT_S)}
    with reeldrop_server(s3_endpoint, tmp_path / "server", extra=extra, run_worker=False) as server:
        svc = server.services
        user = server.add_user()
        data = upload(user, make_clip(tmp_path / "slow.mp4", seconds=10, size="640x360"))
        options = {"renditions": ["360p"], "audio": False, "clips": {"count": 0}, "thumbnails": 0}
        job_id = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": options}).json()[
            "job_id"
        ]
        settings = WorkerSettings.from_config(svc.config)
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(process_job, svc, settings, job_id, threading.Event(), threading.Event())

            def encoding() -> bool:
                job = job_row(svc.db, job_id)
                return items(job)["rendition_360p"][0] == "processing"

            wait_until(encoding, timeout=30, what="the rendition's ffmpeg to start")
            fall_silent(svc.db, job_id)
            stale = stale_one(svc.db, job_id)
            assert take_over(svc.db, stale, max_losses=3) == "requeued"
            assert running.result(timeout=20) == "taken_over"

        job = job_row(svc.db, job_id)
        assert (job.status, job.progress, job.worker_id, job.worker_losses) == ("pending", 0, None, 1)
        assert items(job) == {
            "validate": ("completed", None),
            "rendition_360p": ("pending", None),
            "metadata": ("pending", None),
        }
        assert not exists(server, f"{svc.config.videos_prefix}{job_id}/slow_360p.mp4")
        assert not (svc.config.data_dir / "work" / job_id).exists()
