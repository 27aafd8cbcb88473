"""The servers every client uploads to: one moto S3 server and the ReelDrop backend in front of it.

Both run as separate processes (optionally inside a network namespace, through ``launcher``), so their CPU
is never mixed with the parent's or a client's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

log = logging.getLogger(__name__)

ACCESS_KEY = "bench-access-key"
SECRET_KEY = "bench-secret-key"
REGION = "us-east-1"
BUCKET = "reeldrop-bench"
USERNAME = "bench"
PASSWORD = "bench-password-not-secret"
START_TIMEOUT = 60.0


def find_tool(name: str) -> str | None:
    """A console script next to this Python first (the venv the bench runs in), then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def clean_env(extra: dict[str, str] | None = None, no_proxy: str = "") -> dict[str, str]:
    """The parent's environment without AWS settings or proxies (they would skew or redirect a client)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k.lower() not in ("http_proxy", "https_proxy")
    }
    env["NO_PROXY"] = env["no_proxy"] = no_proxy or "127.0.0.1,localhost"
    env.update(extra or {})
    return env


def s3_env(endpoint: str, config_dir: Path) -> dict[str, str]:
    """AWS credentials for every S3 client, with config files the user's ~/.aws cannot leak into."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": str(config_dir / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(config_dir / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "S3_ENDPOINT_URL": endpoint,
    }


@dataclass
class ServerStack:
    """moto + ReelDrop backend on ``host``; ``launcher`` prefixes each command (e.g. ``ip netns exec NS``)."""

    work_dir: Path
    host: str = "127.0.0.1"
    launcher: Sequence[str] = ()
    s3_port: int = 0
    api_port: int = 0
    token: str = ""
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def s3_url(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    def env(self) -> dict[str, str]:
        return clean_env(s3_env(self.s3_url, self.work_dir), no_proxy=f"127.0.0.1,localhost,{self.host}")

    def s3_client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(retries={"max_attempts": 3}, connect_timeout=10, read_timeout=120),
        )

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> ServerStack:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        # Inside a fresh namespace every port is free; on the host ask the kernel for one.
        self.s3_port = self.s3_port or free_port(self.host)
        self.api_port = self.api_port or free_port(self.host)
        self._start_moto()
        self.s3_client().create_bucket(Bucket=BUCKET)
        self._start_backend()
        self.token = self._get_token()
        return self

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log_path = self.work_dir / f"{name}.log"
        with log_path.open("ab") as sink:
            proc = subprocess.Popen(
                [*self.launcher, *argv],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._procs.append(proc)
        return proc

    def _wait_http(self, name: str, proc: subprocess.Popen[bytes], url: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}: {self._log_tail(name)}")
            try:
                requests.get(url, timeout=2, proxies={"http": "", "https": ""})
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"{name} did not answer at {url} within {START_TIMEOUT:.0f} s")

    def _log_tail(self, name: str, limit: int = 600) -> str:
        text = (self.work_dir / f"{name}.log").read_text(errors="replace").strip()
        return text if len(text) <= limit else "…" + text[-limit:]

    def _start_moto(self) -> None:
        argv = [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.s3_port)]
        proc = self._spawn("moto", argv, clean_env())
        self._wait_http("moto", proc, self.s3_url + "/")

    def _backend_env(self, data_dir: Path) -> dict[str, str]:
        env = self.env()
        env.update({"S3_BUCKET_NAME": BUCKET, "REELDROP_SERVER_DATA": str(data_dir)})
        return env

    def _start_backend(self) -> None:
        server = find_tool("reeldrop-server")
        if server is None:
            raise RuntimeError("reeldrop-server is not installed (pip install -e /work/main)")
        data_dir = self.work_dir / "server-data"
        env = self._backend_env(data_dir)
        # The user goes into the SQLite file before the server opens it: no second writer while serving.
        created = subprocess.run(
            [server, "--data-dir", str(data_dir), "create-user", USERNAME, "--password-stdin"],
            input=PASSWORD + "\n",
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if created.returncode != 0:
            raise RuntimeError(f"reeldrop-server create-user failed: {created.stderr.strip()[-500:]}")
        argv = [server, "--data-dir", str(data_dir), "--log-level", "warning"]
        argv += ["--host", self.host, "--port", str(self.api_port)]
        proc = self._spawn("reeldrop-server", argv, env)
        self._wait_http("reeldrop-server", proc, self.api_url + "/healthz")

    def _get_token(self) -> str:
        answer = requests.post(
            self.api_url + "/api/auth/token",
            json={"username": USERNAME, "password": PASSWORD},
            timeout=30,
            proxies={"http": "", "https": ""},
        )
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def stop(self) -> None:
        """Stop every server this stack started: SIGTERM, then SIGKILL after a few seconds."""
        for proc in reversed(self._procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self._procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self._procs.clear()
