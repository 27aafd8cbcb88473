"""The backend client against the real server over HTTP."""

from __future__ import annotations

import uuid

import pytest

from app.core.api import AuthRequired, BackendClient, BackendError, BackendUnavailable
from app.server.threaded import free_port
from tests.support.servers import RunningServer, User


def test_login_me_and_logout(server: RunningServer) -> None:
    user = server.add_user()
    client = BackendClient(server.url)
    token = client.login(user.username, user.password)
    assert token and client.me()["username"] == user.username
    client.logout()
    assert client.token is None
    stale = BackendClient(server.url, token)
    with pytest.raises(AuthRequired) as err:
        stale.me()
    assert err.value.code == "token_revoked"
    stale.logout()  # logging out with a revoked token is not an error


def test_errors_carry_the_servers_code_and_detail(server: RunningServer, user: User) -> None:
    client = BackendClient(server.url, user.token)
    with pytest.raises(BackendError) as err:
        client.presign("setup.exe", 100)
    assert err.value.status == 415 and err.value.code == "unsupported_media_type"
    assert "setup.exe" in err.value.detail
    with pytest.raises(BackendError) as missing:
        client.job(str(uuid.uuid4()))  # a well-formed id of no job
    assert missing.value.status == 404


def test_multipart_calls_round_trip(server: RunningServer, user: User) -> None:
    client = BackendClient(server.url, user.token)
    data = client.presign("a.mp4", 12 * 1024 * 1024, "video/mp4", part_size=5 * 1024 * 1024)
    signed = client.sign_parts(data["upload_id"], {1: None, 2: "1B2M2Y8AsgTpgAmY7PhCfg==", 3: None})
    assert [p.part_number for p in signed] == [1, 2, 3]
    assert signed[1].headers == {"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="}
    assert client.list_parts(data["upload_id"]) == []
    assert client.abort(data["upload_id"])["status"] == "aborted"


def test_an_unreachable_backend_is_reported_after_bounded_retries() -> None:
    waits: list[float] = []
    client = BackendClient(f"http://127.0.0.1:{free_port()}", attempts=3, max_wait=0.5, sleep=waits.append)
    with pytest.raises(BackendUnavailable) as err:
        client.me()
    assert len(waits) == 2 and all(0 <= w <= 0.5 for w in waits)
    assert "cannot be reached" in err.value.detail
    waits.clear()
    with pytest.raises(BackendUnavailable):
        client.presign("a.mp4", 10)  # not idempotent: one attempt, no retry
    assert waits == []
