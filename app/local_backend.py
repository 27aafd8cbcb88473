"""The "This computer" profile: the reference backend running inside the app's own process.

A new user tries everything without an account: the embedded server (moto S3 in memory, SQLite in the
app's data dir) starts on 127.0.0.1, and a local user gets a token that lives only in this process.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.server.services import Services
    from app.server.threaded import ThreadedServer

log = logging.getLogger(__name__)

LOCAL_USERNAME = "this-computer"


@dataclass
class LocalBackend:
    url: str
    token: str
    _served: ThreadedServer
    _services: Services

    def stop(self) -> None:
        from app.server.app import close_services

        self._served.stop()
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
    from app.server.app import build_services
    from app.server.config import load_config
    from app.server.threaded import serve_in_thread

    # An empty environment: "This computer" always means the embedded store, whatever the shell says.
    config = load_config(env={}, data_dir=data_dir)
    services = build_services(config)
    token = _local_token(services)
    served = serve_in_thread(services, "reeldrop-local-backend", timeout)
    log.info("built-in backend (This computer) on %s", served.url)
    return LocalBackend(served.url, token, served, services)
