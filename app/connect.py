"""Which backend to talk to and with which token — one answer for the CLI and the GUI.

Server: ``--server URL`` (or ``REELDROP_SERVER``), else the settings' active profile. The built-in
profile "This computer" starts the embedded backend in a child process (see local_backend.py; its data
under the app's data folder) and needs no sign-in. Token: ``REELDROP_TOKEN`` (for scripts), else the
credential store's entry for that profile and server.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from app.core import paths
from app.core.api import BackendClient
from app.core.credentials import CredentialStore, open_credential_store
from app.core.settings import (
    ALLOW_HTTP_ENV,
    EMBEDDED_PROFILE_NAME,
    Settings,
    SettingsError,
    check_server_url,
    load_settings,
    plain_http_warning,
)

if TYPE_CHECKING:
    from app.local_backend import LocalBackend

log = logging.getLogger(__name__)

SERVER_ENV = "REELDROP_SERVER"
TOKEN_ENV = "REELDROP_TOKEN"
# The profile name a token is kept under when --server names a server no profile points to.
COMMAND_LINE_PROFILE = "command line"
EMBEDDED_BACKEND_ID = "embedded"


class NotSignedIn(Exception):
    """No token for a remote server; ``str()`` says how to get one."""


@dataclass(frozen=True)
class Target:
    """A backend: a profile name and its server URL (None for the embedded backend)."""

    profile: str
    server_url: str | None

    @property
    def embedded(self) -> bool:
        return self.server_url is None

    @property
    def backend_id(self) -> str:
        """How the upload journal tells backends apart (the embedded one's URL changes every run)."""
        return self.server_url or EMBEDDED_BACKEND_ID

    def describe(self) -> str:
        return "the built-in backend (This computer)" if self.server_url is None else self.server_url


def resolve_target(
    server: str | None = None, *, settings: Settings | None = None, environ: Mapping[str, str] | None = None
) -> Target:
    """``server`` (or REELDROP_SERVER) if given, else the active profile. Raises SettingsError for a
    malformed URL."""
    environ = os.environ if environ is None else environ
    url = server or environ.get(SERVER_ENV, "").strip() or None
    settings = settings or load_settings()
    if url is None:
        profile = settings.active()
        return Target(profile.name, profile.server_url)
    url = check_server_url(url)
    named = next((p for p in settings.profiles if p.server_url == url), None)
    warning = plain_http_warning(url)
    if warning and not (named and named.allow_plain_http) and environ.get(ALLOW_HTTP_ENV, "") != "1":
        raise SettingsError(f"{warning}. Use https://, or set {ALLOW_HTTP_ENV}=1 to send them unencrypted anyway")
    return Target(named.name if named else COMMAND_LINE_PROFILE, url)


def find_token(
    target: Target,
    *,
    environ: Mapping[str, str] | None = None,
    store_factory: Callable[[], CredentialStore] = open_credential_store,
) -> str | None:
    """REELDROP_TOKEN, else the stored token (the keyring is opened only when it is needed)."""
    environ = os.environ if environ is None else environ
    token = environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    return store_factory().get_token(target.profile, target.server_url)


@dataclass
class BackendConnection:
    """A ready backend client; ``close()`` also stops the embedded backend when one was started."""

    target: Target
    client: BackendClient
    local: LocalBackend | None = field(default=None, repr=False)

    @property
    def backend_id(self) -> str:
        return self.target.backend_id

    def close(self) -> None:
        self.client.close()
        if self.local is not None:
            self.local.stop()
            self.local = None

    def __enter__(self) -> BackendConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def embedded_data_dir() -> Path:
    return paths.app_paths().data / "server"


def connect(
    server: str | None = None,
    *,
    settings: Settings | None = None,
    environ: Mapping[str, str] | None = None,
    store_factory: Callable[[], CredentialStore] = open_credential_store,
    require_token: bool = True,
) -> BackendConnection:
    """A client for the chosen backend, signed in. Raises NotSignedIn when a remote server has no
    token (and ``require_token``)."""
    target = resolve_target(server, settings=settings, environ=environ)
    if target.embedded:
        from app.local_backend import start_local_backend

        # The built-in backend frees finished jobs' files after the days the user chose to keep.
        retention_days = (settings or load_settings()).results_retention_days
        local = start_local_backend(embedded_data_dir(), results_retention_days=retention_days)
        log.info("using %s at %s", target.describe(), local.url)
        return BackendConnection(target, BackendClient(local.url, local.token), local)
    assert target.server_url is not None
    token = find_token(target, environ=environ, store_factory=store_factory)
    if token is None and require_token:
        raise NotSignedIn(
            f"Not signed in to {target.server_url}: run `reeldrop login --server {target.server_url}`,"
            f" or set {TOKEN_ENV} for scripts."
        )
    return BackendConnection(target, BackendClient(target.server_url, token))


__all__ = [
    "COMMAND_LINE_PROFILE",
    "EMBEDDED_PROFILE_NAME",
    "SERVER_ENV",
    "TOKEN_ENV",
    "BackendConnection",
    "NotSignedIn",
    "Target",
    "connect",
    "find_token",
    "resolve_target",
]
