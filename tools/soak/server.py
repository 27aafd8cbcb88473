"""The separate `reeldrop-server` a "server" launch talks to: its own data dir and embedded S3, one user
created up front (the app signs in through its own dialog), on a free port of 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .processes import SoakError, started, wait_for

SOAK_USER, SOAK_PASSWORD = "soak", "soak-password-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def soak_server(root: Path, python: str) -> Iterator[str]:
    """A separate `reeldrop-server` (embedded S3, its own data dir) with one user; yields its URL."""
    data = root / "server-data"
    entry = Path(python).parent / "reeldrop-server"
    command = [str(entry)] if entry.exists() else [python, "-m", "app.server.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "AWS_", "REELDROP_", "QUEUE_URL"))}
    env["DATABASE_URL"] = ""
    created = subprocess.run(
        [*command, "--data-dir", str(data), "create-user", SOAK_USER, "--password-stdin"],
        input=SOAK_PASSWORD + "\n", text=True, capture_output=True, env=env, timeout=120, cwd=root,
    )  # fmt: skip
    if created.returncode != 0:
        raise SoakError(f"reeldrop-server create-user failed: {created.stderr.strip()[-500:]}")
    port = free_port()
    with started([*command, "--data-dir", str(data), "serve", "--port", str(port)], root / "server.log", env):
        url = f"http://127.0.0.1:{port}"
        if not wait_for(lambda: _healthy(url), 60, step=0.5):
            raise SoakError(f"reeldrop-server did not answer on {url} (see {root / 'server.log'})")
        yield url


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False
