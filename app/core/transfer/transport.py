"""The one pooled HTTP session every upload thread sends to S3 with (presigned URLs, no auth header).

Timeouts are the stall guard for what the part bodies cannot see: urllib3 2 uses the *connect* timeout
as the socket timeout while the body is being sent, so a link that stops taking bytes fails the
``sendall`` within ``send_timeout`` (a retryable ConnectionError) instead of hanging, and the read
timeout bounds the wait for S3's answer once the body is out. No retries at this layer: the engine
retries per part, with the failure classification in retry.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import cast

import requests
from requests.adapters import HTTPAdapter

from app import __version__

log = logging.getLogger(__name__)


class S3Transport:
    def __init__(self, *, pool_size: int, send_timeout: float, response_timeout: float) -> None:
        if send_timeout <= 0 or response_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self.timeout = (send_timeout, response_timeout)
        self.session = requests.Session()
        # pool_block=False: the engine's thread pool is the connection budget; never wait on urllib3's.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0, pool_block=False)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = f"ReelDrop/{__version__}"
        # S3 answers uploads with tiny bodies; asking for compressed answers only costs CPU.
        self.session.headers.pop("Accept-Encoding", None)

    def put(self, url: str, body: Iterable[bytes | memoryview], headers: Mapping[str, str]) -> requests.Response:
        """PUT a part; ``headers`` are the signed ones the backend handed out, sent exactly."""
        response = self.session.put(url, data=_as_body(body), headers=dict(headers), timeout=self.timeout)
        _ = response.content  # read the (small) answer so the connection goes back to the pool
        return response

    def post(self, url: str, body: Iterable[bytes | memoryview], content_type: str) -> requests.Response:
        headers = {"Content-Type": content_type}
        response = self.session.post(url, data=_as_body(body), headers=headers, timeout=self.timeout)
        _ = response.content
        return response

    def close(self) -> None:
        self.session.close()


def _as_body(body: Iterable[bytes | memoryview]) -> Iterable[bytes]:
    # urllib3 hands each piece to socket.sendall, which takes memoryviews as well as bytes; the type
    # stubs only say bytes. Views let a 1 MiB block go out in slices without copying it.
    return cast(Iterable[bytes], body)
