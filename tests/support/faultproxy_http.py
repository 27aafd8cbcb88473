"""Data of the fault proxy: HTTP/1.1 request framing (heads, body lengths, canned answers), faults, records."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

MAX_CHUNKED_TAIL = 16


@dataclass(frozen=True)
class RequestHead:
    """``raw`` is the head as received (b"" for a stream that is not HTTP). ``content_length`` is None
    when the body has no known end (chunked or not HTTP): the rest of the connection is then one body."""

    raw: bytes
    method: str
    target: str
    content_length: int | None
    chunked: bool

    @property
    def body_start(self) -> int:
        return len(self.raw)


def parse_head(raw: bytes) -> RequestHead:
    lines = raw.split(b"\r\n")
    parts = lines[0].split(b" ") if lines else []
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
        return RequestHead(raw=raw, method="?", target="?", content_length=None, chunked=False)
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return RequestHead(
        raw=raw,
        method=parts[0].decode("latin-1"),
        target=parts[1].decode("latin-1"),
        content_length=None if chunked else length,
        chunked=chunked,
    )


def response_status(head: bytes) -> int:
    parts = head.split(b"\r\n", 1)[0].split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def response_body_length(head: bytes, method: str) -> int | None:
    """Bytes of body after a final response head: 0 for HEAD, 204 and 304; None when only the connection's
    end tells (chunked, or no Content-Length)."""
    if method == "HEAD" or response_status(head) in (204, 304):
        return 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding" and b"chunked" in value.lower():
            return None
        if name == b"content-length":
            return int(value.strip())
    return None


def canned_response(status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> bytes:
    reason = HTTPStatus(status).phrase
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n{extra}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nServer: faultproxy\r\n\r\n"
    )
    return head.encode("latin-1") + body


def drain_body(head: RequestHead, received: bytes, recv: Callable[[], bytes | None]) -> None:
    """Read and drop the rest of the body, so the client is not cut off mid-send before the answer."""
    if head.content_length is not None:
        left = head.content_length - len(received)
        while left > 0:
            data = recv()
            if not data:
                return
            left -= len(data)
    elif head.chunked:
        tail = received[-MAX_CHUNKED_TAIL:]
        while b"0\r\n\r\n" not in tail:
            data = recv()
            if not data:
                return
            tail = (tail + data)[-MAX_CHUNKED_TAIL:]


@dataclass
class RequestRecord:
    """One request the proxy saw: ``faults`` lists what hit it ("cut", "flip", "stall", "respond 503")."""

    connection: int
    method: str
    target: str
    faults: list[str] = field(default_factory=list)
    body_bytes_forwarded: int = 0
    seen_at: float = field(default_factory=time.time)  # wall clock when its head arrived (presigned URLs use it)


@dataclass(eq=False)  # faults are compared by identity: two alike faults are two faults
class Fault:
    kind: str
    at: int
    times: int
    connection: int | None
    match: bytes | None
    seconds: float = 0.0
    response: bytes = b""
    status: int = 0

    def applies(self, connection: int, head: RequestHead) -> bool:
        if self.times <= 0 or (self.connection is not None and self.connection != connection):
            return False
        return self.match is None or self.match in head.raw
