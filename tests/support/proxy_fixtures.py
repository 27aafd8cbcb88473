"""Fixtures for tests that talk to a RecordingServer through a FaultProxy. Import them by name into the
test module (`from tests.support.proxy_fixtures import proxy, server`): there they shadow the session's
ReelDrop `server` fixture, which such modules do not use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.faultproxy import FaultProxy
from tests.support.recording_server import RecordingServer


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


@pytest.fixture
def proxy(server: RecordingServer) -> Iterator[FaultProxy]:
    with FaultProxy(server.address) as running:
        yield running
