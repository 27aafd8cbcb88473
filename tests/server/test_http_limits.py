"""Issue 14 item 10: slow clients are cut off; a slow download is not."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.servers import RunningServer, folder_store_server

LIMITS = {"REELDROP_HEADER_TIMEOUT": "1", "REELDROP_BODY_IDLE_TIMEOUT": "1"}
WAIT_S = 15.0


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with folder_store_server(tmp_path_factory.mktemp("limits"), env=LIMITS) as running:
        yield running


def _connect(server: RunningServer) -> socket.socket:
    address = urlsplit(server.url)
    sock = socket.create_connection((address.hostname, address.port), timeout=WAIT_S)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """Read until the server closes (True) or WAIT_S passes (False); an answer before the close is fine."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            if not sock.recv(65536):
                return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
    return False


def test_connections_that_never_finish_their_head_are_closed(strict: RunningServer) -> None:
    sockets = [_connect(strict) for _ in range(20)]
    try:
        for sock in sockets:
            sock.sendall(b"GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # and nothing more
        assert all(_closed_by_server(sock) for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()


def test_a_body_that_stops_arriving_gets_408(strict: RunningServer) -> None:
    user = strict.add_user()
    with _connect(strict) as sock:
        head = (
            "POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {user.token}\r\nContent-Length: 100\r\n\r\n"
        )
        sock.sendall(head.encode() + b'{"upload_id": ')  # 14 of 100 bytes, then silence
        answer = b""
        while b"}" not in answer.partition(b"\r\n\r\n")[2]:  # the whole JSON answer (it may come in pieces)
            block = sock.recv(65536)
            if not block:
                break
            answer += block
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"request_timeout"' in answer


def test_a_download_read_slowly_is_not_cut(strict: RunningServer, tmp_path: Path) -> None:
    key = "results/slow/file.bin"
    data = os.urandom(8 * 1024 * 1024)
    strict.services.store.put_bytes(key, data, "application/octet-stream")
    url = strict.services.store.presigned_get_url(key, 600)
    received = bytearray()
    with requests.get(url, stream=True, timeout=WAIT_S) as answer:
        assert answer.status_code == 200
        for block in answer.iter_content(1024 * 1024):
            received += block
            time.sleep(0.3)  # 8 blocks: longer than the idle limit in all, between two reads of ours
    assert bytes(received) == data
