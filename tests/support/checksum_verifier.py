"""An HTTP front for an S3 endpoint that checks part checksums the way S3 does, because moto does not.

    with ChecksumVerifier(("127.0.0.1", moto_port)) as verifier:
        ...  # S3_ENDPOINT_URL = verifier.url (or a FaultProxy in front of it)

Every request is forwarded to the upstream unchanged (Host header included, so SigV4 signatures stay
valid). A request carrying ``x-amz-checksum-crc32c`` or ``Content-MD5`` whose body does not match is
answered like S3: 400 BadDigest, and never reaches the upstream. ``rejected`` lists what was refused. An
UploadPart it checked is answered, like S3 does, with the ``x-amz-checksum-crc32c`` of the bytes received.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import google_crc32c

log = logging.getLogger(__name__)

BAD_DIGEST_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>BadDigest</Code>'
    b"<Message>The CRC32C you specified did not match the calculated checksum.</Message>"
    b"<RequestId>VERIFIER</RequestId></Error>"
)
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade", "expect"}
UPSTREAM_TIMEOUT = 60


@dataclass(frozen=True)
class Rejected:
    method: str
    path: str
    header: str


def _crc32c_b64(body: bytes) -> str:
    return base64.b64encode(google_crc32c.value(body).to_bytes(4, "big")).decode("ascii")


def _md5_b64(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode("ascii")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        log.debug("checksum verifier: " + format, *args)

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _mismatch(self, body: bytes) -> str | None:
        crc = self.headers.get("x-amz-checksum-crc32c")
        if crc is not None and crc != _crc32c_b64(body):
            return "x-amz-checksum-crc32c"
        md5 = self.headers.get("Content-MD5")
        if md5 is not None and md5 != _md5_b64(body):
            return "Content-MD5"
        return None

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes, *, send_body: bool = True) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _forward(self) -> None:
        body = self._body()
        bad = self._mismatch(body)
        if bad is not None:
            self.server.owner._reject(Rejected(self.command, self.path, bad))
            headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(BAD_DIGEST_XML)))]
            self._answer(400, headers, BAD_DIGEST_XML)
            return
        upstream = http.client.HTTPConnection(*self.server.owner.upstream, timeout=UPSTREAM_TIMEOUT)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    upstream.putheader(name, value)
            if body or self.command in ("PUT", "POST"):
                upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body or None)
            answer = upstream.getresponse()
            data = answer.read()
            headers = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP]
            crc = self.headers.get("x-amz-checksum-crc32c")
            if crc is not None and answer.status < 300 and "partNumber=" in self.path:
                # S3 answers an UploadPart it checked with the checksum it computed (moto echoes none).
                headers = [(k, v) for k, v in headers if k.lower() != "x-amz-checksum-crc32c"]
                headers.append(("x-amz-checksum-crc32c", _crc32c_b64(body)))
            if self.command != "HEAD":
                headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
                headers.append(("Content-Length", str(len(data))))
            self._answer(answer.status, headers, data, send_body=self.command != "HEAD")
        finally:
            upstream.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ChecksumVerifier

    def handle_error(self, request: object, client_address: object) -> None:
        # A client cut off mid-request (the fault proxy's job) is expected here, not worth a traceback.
        log.debug("checksum verifier: request from %s ended early", client_address, exc_info=True)


class ChecksumVerifier:
    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self._server = _Server((host, 0), _Handler)
        self._server.owner = self
        self._lock = threading.Lock()
        self.rejected: list[Rejected] = []
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}"

    def _reject(self, item: Rejected) -> None:
        with self._lock:
            self.rejected.append(item)

    def start(self) -> ChecksumVerifier:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> ChecksumVerifier:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
