"""Serve the backend from a thread of the calling process (the "This computer" profile, tests)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import uvicorn

from .app import create_app
from .embedded_s3 import free_port
from .services import Services


@dataclass
class ThreadedServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 20.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=timeout)


def serve_in_thread(services: Services, name: str, timeout: float = 30.0) -> ThreadedServer:
    """uvicorn on a free 127.0.0.1 port in a daemon thread; returns once it accepts connections."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name}: the ReelDrop backend did not start")
        time.sleep(0.02)
    return ThreadedServer(f"http://127.0.0.1:{port}", server, thread)
