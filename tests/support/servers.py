"""Real servers for tests and benchmarks: moto's S3 server and the ReelDrop backend, both on 127.0.0.1."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from app.server.app import build_services, close_services
from app.server.auth import create_user
from app.server.config import load_config
from app.server.services import Services
from app.server.threaded import serve_in_thread
from tests.support.moto_server import MotoS3

TEST_ACCESS_KEY = "testing-access-key"
TEST_SECRET_KEY = "testing-secret-key"


@contextmanager
def moto_s3_server() -> Iterator[str]:
    """moto's S3 server in a thread, reached over HTTP like any S3 endpoint. Yields its URL."""
    s3 = MotoS3().start()
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
def folder_store_server(data_dir: Path, env: dict[str, str] | None = None, **overrides: Any) -> Iterator[RunningServer]:
    """The ReelDrop backend on its own folder store (no S3 at all), as "This computer" and `--storage DIR` run it."""
    base_env = {"WORKER_SECRET": "test-worker-secret", **(env or {})}
    config = load_config(base_env, data_dir=data_dir).with_overrides(**overrides)
    services = build_services(config)
    served = serve_in_thread(services, "reeldrop-test-folder-server", timeout=20)
    try:
        yield RunningServer(served.url, services, "")
    finally:
        served.stop()
        close_services(services)


@contextmanager
def reeldrop_server(
    s3_endpoint: str, data_dir: Path, env: dict[str, str] | None = None, port: int | None = None, **overrides: Any
) -> Iterator[RunningServer]:
    """The ReelDrop backend served by uvicorn in a thread, pointed at an S3 endpoint over HTTP (on `port`, or
    a free one: a test that must name the server's address in its settings picks it first)."""
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
    served = serve_in_thread(services, "reeldrop-test-server", timeout=20, port=port)
    try:
        yield RunningServer(served.url, services, s3_endpoint)
    finally:
        served.stop()
        close_services(services)
