"""Fixtures for the engine tests: one fault-injecting upload stack per session, an engine per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.api import BackendClient
from app.core.transfer.engine import UploadEngine
from app.core.transfer.journal import Journal
from app.core.transfer.retry import BackoffPolicy
from tests.support.servers import User
from tests.support.upload_stack import MiB, UploadStack, upload_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UploadStack]:
    with upload_stack(tmp_path_factory.mktemp("upload-stack")) as running:
        yield running


@pytest.fixture
def faults(stack: UploadStack) -> Iterator[UploadStack]:
    """The stack with no fault armed and empty records, cleaned again after the test."""
    stack.reset()
    yield stack
    stack.reset()


@pytest.fixture
def uploader(faults: UploadStack) -> User:
    return faults.server.add_user()


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(tmp_path / "journal.sqlite3") as opened:
        yield opened


EngineFactory = Callable[..., UploadEngine]


@pytest.fixture
def make_engine(uploader: User, journal: Journal) -> Iterator[EngineFactory]:
    """Engines on the stack's backend, shut down after the test. Small parts, quick retries."""
    engines: list[UploadEngine] = []

    def make(client: BackendClient | None = None, **options: Any) -> UploadEngine:
        settings: dict[str, Any] = {
            "concurrency": 3,
            "part_size": 5 * MiB,
            "stall_timeout": 15.0,
            "policy": BackoffPolicy(max_attempts=5, base_delay=0.05, max_delay=0.2),
        }
        settings.update(options)
        engine = UploadEngine(client or BackendClient(uploader.base_url, uploader.token), journal, **settings)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.shutdown()
