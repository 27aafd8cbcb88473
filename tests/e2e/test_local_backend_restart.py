"""The built-in server killed under the app: it comes back on the same address with the same signing key, so
the client's token and URLs go on working and an upload in flight finishes; a user's own stop never restarts
it, and a server that keeps dying is given up with one ERROR."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
from pathlib import Path

import pytest
import requests

from app.local_backend import RESTARTS_PER_MINUTE, LocalBackend, start_local_backend
from tests.support.cli import Cli
from tests.support.files import random_file
from tests.support.processes import descendants, is_python_spawn_child
from tests.support.waiting import wait_until

MIB = 1024 * 1024


def kill_and_wait_back(backend: LocalBackend) -> None:
    dead = backend.pid
    assert dead is not None
    os.kill(dead, signal.SIGKILL)
    wait_until(lambda: backend.pid != dead and backend.is_alive(), timeout=30, what="a new built-in server")


def me(backend: LocalBackend) -> requests.Response:
    def answered() -> requests.Response | None:
        try:
            return requests.get(
                f"{backend.url}/api/me", headers={"Authorization": f"Bearer {backend.token}"}, timeout=5
            )
        except requests.ConnectionError:
            return None

    return wait_until(answered, timeout=30, what="the built-in server answering")


def test_a_killed_server_comes_back_where_it_was_with_its_data_and_urls(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    backend = start_local_backend(tmp_path / "server")
    try:
        headers = {"Authorization": f"Bearer {backend.token}"}
        random_file(tmp_path / "kept.mp4", 300_000)
        body = {"filename": "kept.mp4", "file_size": 300_000, "content_type": "video/mp4"}
        presigned = requests.post(f"{backend.url}/api/upload/presigned-url", json=body, headers=headers, timeout=10)
        data = presigned.json()
        with (tmp_path / "kept.mp4").open("rb") as f:
            assert requests.post(data["upload_url"], data=data["upload_fields"], files={"file": f}, timeout=30).ok
        assert requests.post(f"{backend.url}/api/upload/{data['upload_id']}/complete", headers=headers, timeout=10).ok
        link = requests.get(f"{backend.url}/api/upload/{data['upload_id']}/download", headers=headers, timeout=10)
        url, first_url = link.json()["url"], backend.url
        kill_and_wait_back(backend)
        assert backend.url == first_url and me(backend).status_code == 200  # the same token, the same address
        # A URL signed before the kill still works: same address, same key, and the object is on disk.
        assert requests.get(url, timeout=30).content == (tmp_path / "kept.mp4").read_bytes()
        assert backend.restarts == 1
        assert any("stopped unexpectedly" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    finally:
        backend.stop()
    assert not backend.is_alive()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_server_that_keeps_dying_is_given_up_with_one_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    backend = start_local_backend(tmp_path / "server")
    try:
        for _ in range(RESTARTS_PER_MINUTE):
            kill_and_wait_back(backend)
        with caplog.at_level(logging.INFO):
            last = backend.pid
            assert last is not None
            os.kill(last, signal.SIGKILL)
            wait_until(lambda: any(r.levelno == logging.ERROR for r in caplog.records), timeout=30, what="the give-up")
        assert backend.pid == last and not backend.is_alive()
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "quit and reopen ReelDrop" in errors[0]
    finally:
        backend.stop()


def test_stop_never_restarts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    backend = start_local_backend(tmp_path / "server")
    backend.stop()
    assert not backend.is_alive() and backend.restarts == 0
    assert not [r for r in caplog.records if "unexpectedly" in r.getMessage()]


def test_the_cli_finishes_an_upload_whose_server_was_killed_under_it(tmp_path: Path) -> None:
    digest = random_file(tmp_path / "long take.mp4", 24 * MIB)
    cli = Cli(tmp_path / "home")
    app = cli.start("upload", "--json", "--limit-rate", "6M", str(tmp_path / "long take.mp4"))
    try:
        server = wait_until(lambda: (descendants(app.pid, is_python_spawn_child) or [None])[0], timeout=60)
        wait_until(lambda: cli.journaled_parts() >= 1, timeout=60, what="a part sent")
        server.kill()
        out, err = app.communicate(timeout=180)
    finally:
        if app.poll() is None:
            app.kill()
    assert app.returncode == 0, err[-3000:]
    record = json.loads(out.strip().splitlines()[-1])
    assert record["error"] is None and record["sha256"] == digest
    log = (cli.home / "log" / "reeldrop-cli.log").read_text(errors="replace")
    assert "stopped unexpectedly (exit code -9); starting it again" in log
    assert " ERROR " not in log
    assert "Traceback" not in err
    assert hashlib.sha256((tmp_path / "long take.mp4").read_bytes()).hexdigest() == digest
