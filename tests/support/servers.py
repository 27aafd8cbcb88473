"""Real servers for tests and benchmarks: moto's S3 server and the ReelDrop backend, both on 127.0.0.1."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import uvicorn

from app.server.app import build_services, close_services, create_app
from app.server.auth import create_user
from app.server.config import load_config
from app.server.embedded_s3 import EmbeddedS3, free_port
from app.server.services import Services

TEST_ACCESS_KEY = "testing-access-key"
TEST_SECRET_KEY = "testing-secret-key"


@contextmanager
def moto_s3_server() -> Iterator[str]:
    """moto's S3 server in a thread, reached over HTTP like any S3 endpoint. Yields its URL."""
    s3 = EmbeddedS3().start()
    try:
        yield s3.endpoint_url
    finally:
        s3.stop()


@dataclass
class RunningServer:
    url: str
    services: Services
    s3_endpoint: str

    def add_user(self, username: str | None = None, password: str = "correct horse", **kw: Any) -> User:
        username = username or f"user-{secrets.token_hex(4)}"
        with self.services.db.session() as session:
            create_user(
                session,
                username,
                password,
                kw.get("quota", self.services.config.default_quota_bytes),
                kw.get("admin", False),
            )
        answer = requests.post(
            f"{self.url}/api/auth/token", json={"username": username, "password": password}, timeout=10
        )
        answer.raise_for_status()
        return User(username, password, answer.json()["access_token"], self.url)


@dataclass
class User:
    username: str
    password: str
    token: str
    base_url: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        return requests.request(method, f"{self.base_url}{path}", headers=headers, timeout=30, **kw)


@contextmanager
def reeldrop_server(
    s3_endpoint: str, data_dir: Path, env: dict[str, str] | None = None, **overrides: Any
) -> Iterator[RunningServer]:
    """The ReelDrop backend served by uvicorn in a thread, pointed at an S3 endpoint over HTTP."""
    base_env = {
        "S3_ENDPOINT_URL": s3_endpoint,
        "S3_BUCKET_NAME": f"reeldrop-test-{secrets.token_hex(3)}",
        "AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": TEST_SECRET_KEY,
        "AWS_REGION": "us-east-1",
        "WORKER_SECRET": "test-worker-secret",
        **(env or {}),
    }
    config = load_config(base_env, data_dir=data_dir).with_overrides(**overrides)
    services = build_services(config)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="reeldrop-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the ReelDrop test server did not start")
        time.sleep(0.02)
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", services, s3_endpoint)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        close_services(services)
