"""The embedded S3 endpoint: moto's S3 server on 127.0.0.1, so one command runs everything locally.

Its objects live in memory for the life of the process; the log says so at start-up.
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

log = logging.getLogger(__name__)

EMBEDDED_ACCESS_KEY = "reeldrop-embedded"
EMBEDDED_SECRET_KEY = "reeldrop-embedded-secret"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedS3:
    """moto's ThreadedMotoServer; its request log would carry presigned query strings, so it is muted."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._server: ThreadedMotoServer | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmbeddedS3:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        log.info("embedded S3 endpoint (moto, in memory) listening on %s", self.endpoint_url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
