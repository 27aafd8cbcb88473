"""Connect to the active profile's backend: the built-in server ("This computer") or a signed-in server.

The choosing is app.connect's (shared with the CLI, so both use the same embedded data folder and the
same keyring entries); this adds what the window needs: the signed-in user's name, an offline state, and
"sign in" as an outcome rather than an error. Blocking: the session calls it on a worker thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.connect import BackendConnection, NotSignedIn, connect
from app.core.api import AuthRequired, BackendClient, BackendUnavailable
from app.core.credentials import CredentialStore
from app.core.settings import Profile, Settings

log = logging.getLogger(__name__)


class SignInNeeded(Exception):
    """No token for this profile, or the server refused the one we had."""

    def __init__(self, profile: Profile, reason: str) -> None:
        super().__init__(reason)
        self.profile = profile


@dataclass
class AccountConnection:
    profile: Profile
    backend: BackendConnection
    username: str = ""
    offline: bool = False  # the server did not answer at connect time; the pipeline retries on its own

    @property
    def client(self) -> BackendClient:
        return self.backend.client

    @property
    def embedded(self) -> bool:
        return self.profile.embedded

    def describe(self) -> str:
        if self.embedded:
            return "Working on this computer (built-in server)"
        who = f" as {self.username}" if self.username else ""
        state = " — offline, will retry" if self.offline else ""
        return f"Signed in to {self.profile.name}{who}{state}"

    def close(self) -> None:
        try:
            self.backend.close()
        except Exception:
            log.exception("The connection to %s did not close cleanly", self.profile.name)


def connect_profile(settings: Settings, store: CredentialStore) -> AccountConnection:
    """A connection for the active profile; raises SignInNeeded when a server has no accepted token."""
    profile = settings.active()
    try:
        # environ={}: in the window, the account menu decides, not REELDROP_SERVER / REELDROP_TOKEN.
        backend = connect(settings=settings, environ={}, store_factory=lambda: store)
    except NotSignedIn as exc:
        raise SignInNeeded(profile, str(exc)) from exc
    if profile.embedded:
        return AccountConnection(profile, backend, "this computer")
    try:
        me = backend.client.me()
    except AuthRequired as exc:
        backend.close()
        raise SignInNeeded(profile, f"{profile.server_url} no longer accepts the saved sign-in") from exc
    except BackendUnavailable:
        log.warning("%s did not answer; continuing offline", profile.server_url)
        return AccountConnection(profile, backend, profile.username, offline=True)
    return AccountConnection(profile, backend, str(me.get("username") or profile.username))
