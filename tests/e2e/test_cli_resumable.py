"""Ctrl-C in the middle of a 39 MB `reeldrop upload`, against a server with the default 100 MiB POST
threshold: the rerun resumes from the parts S3 holds instead of sending the file again (issue 12.4).

A subprocess, as a user runs it; the backend and moto's S3 over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.transfer.journal import Journal
from tests.support.cli import Cli, json_lines, stop
from tests.support.files import random_file
from tests.support.servers import RunningServer, reeldrop_server
from tests.support.upload_stack import stored_sha256
from tests.support.waiting import wait_until

MiB = 1024 * 1024
THIRTY_NINE_MB = 39_000_000


@pytest.fixture(scope="module")
def default_server(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with reeldrop_server(s3_endpoint, tmp_path_factory.mktemp("default-threshold")) as running:
        assert running.services.config.multipart_threshold == 100 * MiB
        yield running


def test_ctrl_c_on_a_39_mb_upload_then_rerun_sends_only_the_missing_parts(default_server, tmp_path: Path):
    creator = default_server.add_user()
    cli = Cli(tmp_path / "home", token=creator.token)
    path = tmp_path / "talk.mp4"
    digest = random_file(path, THIRTY_NINE_MB)
    args = ("upload", str(path), "--server", default_server.url)  # the defaults: automatic parts, 4 connections
    process = cli.start(*args, "--limit-rate", "6M")
    try:
        # A single POST journals no parts: then wait for the process to end (or the timeout) instead.
        wait_until(lambda: cli.journaled_parts() >= 2 or process.poll() is not None, timeout=60)
    finally:
        code, _, err = stop(process, signal.SIGINT)
    assert code == 130, f"it was never cut after two parts (a single POST journals none): {err}"
    (upload_id,) = cli.uploading_ids()
    with Journal.open(cli.journal_file) as journal:
        entry = journal.get(upload_id)
    assert entry is not None
    kept = entry.parts
    assert len(kept) >= 2, "the 39 MB file went up as one POST: nothing of it could resume"
    done = cli.run(*args, "--json")
    assert done.returncode == 0, done.stderr
    (record,) = json_lines(done.stdout)
    assert record["upload_id"] == upload_id and record["method"] == "MULTIPART" and record["parts"] == 8  # 5 MiB
    assert record["parts_reused"] == len(kept)
    assert record["bytes_sent"] == THIRTY_NINE_MB - sum(part.size for part in kept)  # what it lacked, once
    assert record["sha256"] == digest == stored_sha256(creator, upload_id)
