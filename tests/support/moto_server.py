"""moto's S3 server on 127.0.0.1, for tests and benchmarks only: the S3 peer the server is tested against.

(It was the product's built-in store until the FileStore replaced it: in memory, and it checks no
signature, so it is a test double, not a product part.) Its request log would carry presigned query
strings, so it is muted.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from app.server.threaded import free_port

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

log = logging.getLogger(__name__)


class MotoS3:
    """moto's ThreadedMotoServer in this process."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._server: ThreadedMotoServer | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> MotoS3:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        log.info("moto S3 (in memory) listening on %s", self.endpoint_url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
