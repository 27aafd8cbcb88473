"""`reeldrop-server` with no configuration at all, driven by curl: a client nobody here wrote."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from app.server.threaded import free_port
from tests.support.files import make_clip

SERVER = [sys.executable, "-m", "app.server.cli"]


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "AWS_", "DATABASE_URL", "QUEUE_URL"))}
    env["HOME"] = str(home)  # the default data dir must come from platformdirs, under this HOME
    env["XDG_DATA_HOME"] = str(home / ".local" / "share")
    return env


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    home = tmp_path_factory.mktemp("home")
    env = _clean_env(home)
    port = free_port()
    log_path = home / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*SERVER, "--port", str(port), "--log-level", "debug", "--access-log"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError(f"server did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        created = subprocess.run(
            [*SERVER, "create-user", "creator", "--password-stdin"],
            input="a good password\n",
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert created.returncode == 0, created.stderr
        yield url, home, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def curl(*args: str) -> dict:
    out = subprocess.run(["curl", "-sS", "--fail-with-body", *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else {}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_zero_configuration_server_takes_a_curl_upload(embedded: tuple[str, Path, Path], tmp_path: Path) -> None:
    url, home, log_path = embedded
    token = curl(
        "-X",
        "POST",
        f"{url}/api/auth/token",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps({"username": "creator", "password": "a good password"}),
    )["access_token"]
    auth = ["-H", f"Authorization: Bearer {token}"]
    clip = make_clip(tmp_path / "my first reel.mp4", seconds=1, size="160x120")
    presigned = curl(
        "-X",
        "POST",
        f"{url}/api/upload/presigned-url",
        *auth,
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps({"filename": clip.name, "file_size": clip.stat().st_size, "content_type": "video/mp4"}),
    )
    form: list[str] = []
    for name, value in presigned["upload_fields"].items():
        form += ["-F", f"{name}={value}"]
    curl("-X", "POST", presigned["upload_url"], *form, "-F", f"file=@{clip}")
    done = curl("-X", "POST", f"{url}/api/upload/{presigned['upload_id']}/complete", *auth)
    assert done["size"] == clip.stat().st_size
    job = curl(
        "-X",
        "POST",
        f"{url}/api/upload/create-job",
        *auth,
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps({"upload_id": presigned["upload_id"]}),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        doc = curl(f"{url}{job['status_url']}", *auth)
        if doc["status"] not in ("pending", "processing"):
            break
        time.sleep(0.3)
    assert doc["status"] in ("completed", "partial"), doc
    # the defaults: SQLite and the objects' folder under the user data dir, and the log says so
    log = log_path.read_text()
    assert "object store: folder" in log
    assert list(home.rglob("reeldrop-server.sqlite3")), "the database lives under the user data dir"
    zips = [p for p in home.rglob("objects/results/*") if p.is_file()]
    assert len(zips) == 1 and zips[0].stat().st_size > 0, "the results ZIP is a file in the data dir"
    # nothing secret reached the log, even at debug level with the access log on
    for secret in (
        "X-Amz-Signature",
        "X-Amz-Credential",
        "x-amz-signature",
        "X-RD-Signature",
        presigned["upload_fields"]["x-rd-signature"],
        token,
        presigned["upload_fields"]["policy"],
    ):
        assert secret not in log
