"""The "This computer" profile: the reference backend running inside the app's own process.

A new user tries everything without an account: the embedded server (moto S3 in memory, SQLite in the
app's data dir) starts on 127.0.0.1, and a local user gets a token that lives only in this process.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn

    from app.server.services import Services

log = logging.getLogger(__name__)

LOCAL_USERNAME = "this-computer"


@dataclass
class LocalBackend:
    url: str
    token: str
    _server: uvicorn.Server
    _thread: threading.Thread
    _services: Services

    def stop(self) -> None:
        from app.server.app import close_services

        self._server.should_exit = True
        self._thread.join(timeout=20)
        close_services(self._services)


def _local_token(services: Services) -> str:
    from sqlalchemy import select

    from app.server.auth import create_user, issue_token
    from app.server.db import User

    with services.db.session() as session:
        user = session.scalar(select(User).where(User.username == LOCAL_USERNAME))
        if user is None:
            # Nobody signs in as this user: its password is random and never shown or kept.
            user = create_user(
                session, LOCAL_USERNAME, secrets.token_urlsafe(24), services.config.default_quota_bytes, False
            )
        token, _ = issue_token(session, user, services.config.token_ttl_seconds)
    return token


def start_local_backend(data_dir: Path, timeout: float = 30.0) -> LocalBackend:
    import uvicorn

    from app.server.app import build_services, create_app
    from app.server.config import load_config
    from app.server.embedded_s3 import free_port

    # An empty environment: "This computer" always means the embedded store, whatever the shell says.
    config = load_config(env={}, data_dir=data_dir)
    services = build_services(config)
    token = _local_token(services)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="reeldrop-local-backend", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("The built-in ReelDrop backend did not start.")
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    log.info("built-in backend (This computer) on %s", url)
    return LocalBackend(url, token, server, thread, services)
