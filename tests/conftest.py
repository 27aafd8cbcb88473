"""Shared fixtures: one moto S3 server and one ReelDrop backend per test session, both over real HTTP."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.servers import RunningServer, User, moto_s3_server, reeldrop_server

# Password hashing at the first format's cost (N=2^14) for the hundreds of users the tests create: a server
# setting, like the ultrafast x264 some tests ask for; the product's default stays 2^16 (app/server/auth.py).
os.environ.setdefault("REELDROP_SCRYPT_LOG_N", "14")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_s3_server() as url:
        yield url


@pytest.fixture(scope="session")
def server(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # a small multipart threshold so multipart flows need only a few MiB
    env = {"S3_MULTIPART_THRESHOLD": str(6 * 1024 * 1024)}
    with reeldrop_server(s3_endpoint, tmp_path_factory.mktemp("server"), env=env) as running:
        yield running


@pytest.fixture
def user(server: RunningServer) -> User:
    return server.add_user()


@pytest.fixture
def other_user(server: RunningServer) -> User:
    return server.add_user()


@pytest.fixture
def admin(server: RunningServer) -> User:
    return server.add_user(admin=True)
