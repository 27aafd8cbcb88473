"""Issue 14 item 1: a body is bounded, and a route that needs a token checks it, before the body is read.

The requests are written by hand on a socket: the head declares a large body and none of it is sent. A server
that reads before it refuses would wait for those bytes (and these tests would time out on the answer)."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.servers import RunningServer, User

MIB = 1024 * 1024
ANSWER_TIMEOUT_S = 10.0


def raw_request(server: RunningServer, head: str, body: bytes = b"") -> tuple[int, dict]:
    """Send a request head (and whatever part of a body is given); returns the status and the JSON answer."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=ANSWER_TIMEOUT_S) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n" + body)
        received = b""
        while b"\r\n\r\n" not in received or len(received) < _answer_length(received):
            block = sock.recv(65536)  # a server waiting for the body times out here: the test fails
            if not block:
                break
            received += block
    status_line, _, rest = received.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(payload or b"{}")


def _answer_length(received: bytes) -> int:
    head, _, _ = received.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return 0


def head_for(path: str, length: int, content_type: str, token: str | None = None) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}", f"Content-Length: {length}"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return "\r\n".join(lines) + "\r\n"


FORM = "multipart/form-data; boundary=xyz"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/api/upload/file", FORM), ("/api/jobs/", FORM), ("/api/jobs", "application/json")],
)
def test_without_a_valid_token_a_large_body_is_refused_unread(
    server: RunningServer, path: str, content_type: str
) -> None:
    status, answer = raw_request(server, head_for(path, 300 * MIB, content_type))
    assert (status, answer["code"]) == (401, "missing_token"), answer
    status, answer = raw_request(server, head_for(path, 100 * MIB // 2, content_type, token="made-up"))
    assert (status, answer["code"]) == (401, "invalid_token"), answer


def test_a_body_over_the_routes_limit_is_refused_unread_even_with_a_token(server: RunningServer, user: User) -> None:
    limit_for_files = 6 * MIB  # the test server's S3_MULTIPART_THRESHOLD
    for path, content_type, length in [
        ("/api/jobs", "application/json", 100 * 1000 * 1000),
        ("/api/jobs", "application/json", MIB + 1),
        ("/api/upload/presigned-url", "application/json", 2 * MIB),
        ("/api/upload/file", FORM, limit_for_files + 65 * 1024),
        ("/api/auth/token", "application/x-www-form-urlencoded", 2 * MIB),  # signing in needs no token
        ("/internal/job/x/video-complete", "application/json", 2 * MIB),  # nor a signed callback
    ]:
        status, answer = raw_request(server, head_for(path, length, content_type, token=user.token))
        assert (status, answer["code"]) == (413, "too_large"), (path, answer)
        assert "bytes" in answer["detail"]


def test_a_chunked_body_is_cut_off_at_the_limit(server: RunningServer, user: User) -> None:
    def chunks():
        filler = b'{"options": {"title": "' + b"x" * (256 * 1024)
        for _ in range(8):  # 2 MiB, no Content-Length
            yield filler
            filler = b"x" * (256 * 1024)

    headers = {**user.headers, "Content-Type": "application/json"}
    answer = requests.post(f"{server.url}/api/jobs", data=chunks(), headers=headers, timeout=30)
    assert answer.status_code == 413 and answer.json()["code"] == "too_large", answer.text


def test_bodies_within_the_limits_still_work(server: RunningServer, user: User) -> None:
    small = user.call("POST", "/api/upload/file", files={"file": ("tiny.mp4", b"\x00" * 1000, "video/mp4")})
    assert small.status_code != 413 and small.status_code != 401, small.text
    # a JSON body just under 1 MiB reaches the route (which then judges it)
    answer = user.call("POST", "/api/jobs", json={"upload_id": "nope", "options": {"title": "x" * 4000}})
    assert answer.status_code == 404 and answer.json()["code"] == "not_found", answer.text
    assert raw_request(server, head_for("/api/jobs", 0, "application/json"))[0] == 401  # no body: the route's 401
