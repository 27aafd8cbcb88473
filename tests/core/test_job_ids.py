"""Issue 15 item 13: a job id from a server (or typed by a user) is only used once it has the UUID shape.
The Jobs tab used it as a path: a hostile server's `/…/Backups/tax-2025` wrote a ZIP over tax-2025.zip and
deleted it, and `/../../.hidden` put results outside the output folder."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from app.core.api import BackendClient, BadJobId, checked_job_id
from app.core.results.fetch import fetch_results
from tests.support.recording_server import RecordingServer

REPO = Path(__file__).resolve().parents[2]
HOSTILE = ["/{victim}/Backups/tax-2025", "/../../.hidden", "../../.hidden", "", "7a2f5c90", 42, None, "a" * 36]


def test_only_the_uuid_shape_is_a_job_id() -> None:
    good = str(uuid.uuid4())
    assert checked_job_id(good) == good and checked_job_id(good.upper()) == good.upper()
    for value in [*HOSTILE, good + "/..", " " + good, good + "\n"]:
        with pytest.raises(BadJobId) as refused:
            checked_job_id(value)
        assert "is not a job id" in refused.value.detail


@pytest.mark.parametrize("template", HOSTILE[:3])
def test_the_jobs_tab_download_refuses_a_job_id_that_is_a_path(tmp_path: Path, template: str) -> None:
    victim = tmp_path / "victim"
    (victim / "Backups").mkdir(parents=True)
    (victim / "Backups" / "tax-2025.zip").write_bytes(b"the user's own file")
    job_id = template.format(victim=victim.relative_to("/"))
    output, cache = tmp_path / "out", tmp_path / "cache"
    output.mkdir()
    before = sorted(tmp_path.rglob("*"))
    with RecordingServer() as hostile:
        with pytest.raises(BadJobId):
            fetch_results(BackendClient(hostile.url, "token"), job_id, "holiday.mp4", output, cache)
        assert hostile.received == []  # refused before a single request
    assert (victim / "Backups" / "tax-2025.zip").read_bytes() == b"the user's own file"
    assert sorted(tmp_path.rglob("*")) == before and not (tmp_path.parent / ".hidden").exists()


def test_the_client_puts_no_odd_job_id_in_a_url(tmp_path: Path) -> None:
    with RecordingServer() as hostile:
        client = BackendClient(hostile.url, "token")
        for call in (client.job, client.cancel_job, client.results_url):
            with pytest.raises(BadJobId):
                call("../upload/abc")
        assert hostile.received == []


def test_the_download_command_refuses_a_job_id_that_is_a_path(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELDROP_")}
    env.update(REELDROP_HOME=str(tmp_path / "home"), REELDROP_SERVER="http://127.0.0.1:9", REELDROP_TOKEN="t")
    env["PYTHONPATH"] = str(REPO)
    out = tmp_path / "out"
    ran = subprocess.run(
        [sys.executable, "-m", "app.cli", "download", "../../.hidden", str(out)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 2 and "'../../.hidden' is not a job id" in ran.stderr, ran.stderr
    assert not out.exists() and not (tmp_path / ".hidden").exists()
