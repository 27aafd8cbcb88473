"""Serve the backend from a thread of the calling process (the "This computer" profile, tests)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from .app import create_app, set_public_url
from .http_limits import uvicorn_options
from .services import Services


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class ThreadedServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 20.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=timeout)


def serve_in_thread(services: Services, name: str, timeout: float = 30.0, port: int | None = None) -> ThreadedServer:
    """uvicorn on 127.0.0.1 (``port``, or a free one) in a daemon thread; returns once it accepts connections."""
    port = port or free_port()
    set_public_url(services, f"http://127.0.0.1:{port}")
    options = uvicorn_options(services.config)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(services), host="127.0.0.1", port=port, log_level="warning", access_log=False, **options
        )
    )
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name}: the ReelDrop backend did not start")
        time.sleep(0.02)
    return ThreadedServer(f"http://127.0.0.1:{port}", server, thread)
