"""A tiny real HTTP/1.1 server on 127.0.0.1 that records what it receives, for transfer and proxy tests.

PUT/POST bodies must carry Content-Length (like S3 presigned PUTs: chunked is refused with 411). A
Content-MD5 header is checked like S3 does (400 BadDigest on mismatch); the answer's ETag is the body's
MD5 in hex, as S3 gives for one part. GET /bytes/N answers N bytes.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)

BAD_DIGEST_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>BadDigest</Code>'
    b"<Message>The Content-MD5 you specified did not match what we received.</Message></Error>"
)
MISSING_LENGTH_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>MissingContentLength</Code>'
    b"<Message>You must provide the Content-Length HTTP header.</Message></Error>"
)


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        log.debug("recording server: " + format, *args)

    def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self, body: bytes, status: int) -> None:
        self.server.owner._add(Received(self.command, self.path, dict(self.headers.items()), body, status))

    def _receive(self) -> None:
        length = self.headers.get("Content-Length")
        if length is None:
            self._record(b"", 411)
            self.close_connection = True
            self._answer(411, MISSING_LENGTH_XML)
            return
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            self._record(body, 400)
            self.close_connection = True
            return
        digest = hashlib.md5(body, usedforsecurity=False)
        expected = self.headers.get("Content-MD5")
        if expected is not None and base64.b64decode(expected) != digest.digest():
            self._record(body, 400)
            self._answer(400, BAD_DIGEST_XML, {"Content-Type": "application/xml"})
            return
        self._record(body, 200)
        self._answer(200, headers={"ETag": f'"{digest.hexdigest()}"'})

    do_PUT = _receive
    do_POST = _receive

    def do_GET(self) -> None:
        if self.path.startswith("/bytes/"):
            size = int(self.path.rsplit("/", 1)[1])
            self._record(b"", 200)
            self._answer(200, bytes(index % 251 for index in range(size)))
        else:
            self._record(b"", 404)
            self._answer(404)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: RecordingServer

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients cut off by the fault proxy are expected here; keep test output quiet.
        log.debug("recording server: connection from %s ended badly", client_address, exc_info=True)


class RecordingServer:
    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._lock = threading.Condition()
        self.received: list[Received] = []
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        return "http://{}:{}".format(*self.address)

    def _add(self, item: Received) -> None:
        with self._lock:
            self.received.append(item)
            self._lock.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: len(self.received) >= count, timeout)

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)
