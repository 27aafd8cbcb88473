"""Where the backend sign-in token lives: the OS keyring, or memory only. Never a file of ours.

`open_credential_store()` picks the keyring when a real one answers (Secret Service, KWallet, macOS
Keychain, Windows Credential Locker) and otherwise falls back to memory with a warning, so the user is
asked to sign in again next launch rather than having a token written somewhere in plain text.
keyring's own fail/null backends and every keyrings.alt backend (plaintext or "encrypted" files next to
the app) are refused on purpose: see vorta#1361 for what a plaintext fallback leads to.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

import keyring
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend
from keyring.errors import PasswordDeleteError

log = logging.getLogger(__name__)

SERVICE = "ReelDrop"
MEMORY_ONLY_DESCRIPTION = "memory only — you will be asked again next launch"
_PROBE_ACCOUNT = "reeldrop-keyring-probe"
# Backends that answer but do not keep a secret safely (or at all).
_REFUSED_MODULES = ("keyrings.alt", "keyrings.cryptfile", "keyring.backends.fail", "keyring.backends.null")
# keyring's own guidance: priority >= 1 is "recommended"; plaintext/file backends sit below it.
_MIN_PRIORITY = 1.0
_DAEMON_NAMES = {"gnome-keyring-d": "gnome-keyring", "kwalletd5": "KWallet", "kwalletd6": "KWallet",
                 "ksecretd": "KWallet", "keepassxc": "KeePassXC"}  # fmt: skip


class CredentialStoreError(RuntimeError):
    """The keyring refused or failed an operation; the message names the backend and the cause."""


def account_name(profile: str, server_url: str | None) -> str:
    """The keyring user name for one server profile; `None` is the embedded backend."""
    return f"{profile}:{server_url or 'embedded'}"


@runtime_checkable
class CredentialStore(Protocol):
    """Holds one bearer token per (profile, server URL)."""

    @property
    def persistent(self) -> bool: ...

    def describe(self) -> str: ...

    def get_token(self, profile: str, server_url: str | None) -> str | None: ...

    def set_token(self, profile: str, server_url: str | None, token: str) -> None: ...

    def delete_token(self, profile: str, server_url: str | None) -> bool: ...


def _check_token(token: str) -> None:
    if not isinstance(token, str) or not token:
        raise ValueError("token must be a non-empty string")


class MemoryCredentialStore:
    """Tokens in this process only: forgotten at exit, never written anywhere."""

    persistent = False

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason  # why the keyring was not used, for the GUI's details text
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def describe(self) -> str:
        return MEMORY_ONLY_DESCRIPTION

    def get_token(self, profile: str, server_url: str | None) -> str | None:
        with self._lock:
            return self._tokens.get(account_name(profile, server_url))

    def set_token(self, profile: str, server_url: str | None, token: str) -> None:
        _check_token(token)
        with self._lock:
            self._tokens[account_name(profile, server_url)] = token

    def delete_token(self, profile: str, server_url: str | None) -> bool:
        with self._lock:
            return self._tokens.pop(account_name(profile, server_url), None) is not None


class KeyringCredentialStore:
    """Tokens in one OS keyring backend, one entry per profile under the service "ReelDrop"."""

    persistent = True

    def __init__(self, backend: KeyringBackend | None = None) -> None:
        backend = backend or keyring.get_keyring()
        reason = refusal_reason(backend)
        if reason:
            raise CredentialStoreError(f"refusing keyring backend {type(backend).__name__}: {reason}")
        self.backend = backend
        self._label: str | None = None

    def describe(self) -> str:
        if self._label is None:
            self._label = backend_label(self.backend)
        return self._label

    def get_token(self, profile: str, server_url: str | None) -> str | None:
        try:
            return self.backend.get_password(SERVICE, account_name(profile, server_url))
        except Exception as exc:
            raise self._error("read the sign-in token from", exc) from exc

    def set_token(self, profile: str, server_url: str | None, token: str) -> None:
        _check_token(token)
        try:
            self.backend.set_password(SERVICE, account_name(profile, server_url), token)
        except Exception as exc:
            raise self._error("save the sign-in token to", exc) from exc

    def delete_token(self, profile: str, server_url: str | None) -> bool:
        """Remove the entry (logout); False when there was none."""
        try:
            self.backend.delete_password(SERVICE, account_name(profile, server_url))
        except PasswordDeleteError:
            return False
        except Exception as exc:
            raise self._error("delete the sign-in token from", exc) from exc
        return True

    def _error(self, action: str, exc: Exception) -> CredentialStoreError:
        return CredentialStoreError(f"Could not {action} {self.describe()}: {type(exc).__name__}: {exc}")


def refusal_reason(backend: KeyringBackend) -> str | None:
    """Why `backend` must not hold tokens, or None when it is a real OS keyring."""
    module = type(backend).__module__
    if isinstance(backend, ChainerBackend):
        return "a chain of backends could fall through to a weaker one; pick one backend"
    if module.startswith(_REFUSED_MODULES):
        return f"{module} does not keep secrets safely (fail, null, or a file-based store)"
    try:
        priority = float(type(backend).priority)
    except Exception as exc:  # keyring signals "not usable here" by raising from priority
        return f"not usable here: {exc}"
    if priority < _MIN_PRIORITY:
        return f"priority {priority:g} is below keyring's 'recommended' level"
    return None


def backend_label(backend: KeyringBackend) -> str:
    """A name a user recognises, e.g. "Secret Service (gnome-keyring)" or "macOS Keychain"."""
    module, name = type(backend).__module__, type(backend).__name__
    if module == "keyring.backends.SecretService":
        provider = _secret_service_provider()
        return f"Secret Service ({provider})" if provider else "Secret Service"
    if module == "keyring.backends.libsecret":
        return "Secret Service (libsecret)"
    if module == "keyring.backends.kwallet":
        return "KWallet"
    if module == "keyring.backends.Windows":
        return "Windows Credential Locker"
    if module.startswith("keyring.backends.macOS"):
        return "macOS Keychain"
    return f"{backend.name} ({module}.{name})"


def _secret_service_provider() -> str | None:
    """Which program owns org.freedesktop.secrets on the session bus (Linux only; best effort)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection
        from jeepney.wrappers import unwrap_msg

        with open_dbus_connection(bus="SESSION") as connection:
            request = message_bus.GetConnectionUnixProcessID("org.freedesktop.secrets")
            (pid,) = unwrap_msg(connection.send_and_get_reply(request, timeout=2))
        program = Path(f"/proc/{int(pid)}/comm").read_text(encoding="utf-8").strip()
    except Exception as exc:  # no bus, no permission, other OS: the plain label is still right
        log.debug("Could not tell which program provides the Secret Service: %s", exc)
        return None
    return _DAEMON_NAMES.get(program, program)


def _candidates(backend: KeyringBackend) -> list[KeyringBackend]:
    if isinstance(backend, ChainerBackend):
        # Use the best member directly, so a failure can never fall through to a weaker one.
        return list(backend.backends)
    return [backend]


def _probe_failure(backend: KeyringBackend, timeout: float) -> str | None:
    """Read a non-existent entry to see that the keyring answers; bounded so a hung daemon cannot
    block start-up."""
    failures: list[str] = []

    def probe() -> None:
        try:
            backend.get_password(SERVICE, _PROBE_ACCOUNT)
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=probe, name="keyring-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return f"it did not answer within {timeout:g} s"
    return failures[0] if failures else None


def open_credential_store(
    backend: KeyringBackend | None = None, *, probe_timeout: float = 30.0
) -> KeyringCredentialStore | MemoryCredentialStore:
    """The keyring store if a real keyring answers, else a memory store (and a logged warning)."""
    reasons, silent, file_based = [], [], False
    for candidate in _candidates(backend or keyring.get_keyring()):
        refused = refusal_reason(candidate)
        failure = None if refused else _probe_failure(candidate, probe_timeout)
        if refused is None and failure is None:
            store = KeyringCredentialStore(candidate)
            log.info("Sign-in tokens are kept in %s", store.describe())
            return store
        reasons.append(f"{type(candidate).__module__}.{type(candidate).__name__}: {refused or failure}")
        file_based = file_based or type(candidate).__module__.startswith(("keyrings.alt", "keyrings.cryptfile"))
        if failure is not None:
            silent.append(backend_label(candidate))
    why = "; ".join(reasons) or "no keyring backend is installed"
    log.debug("keyring backends not used: %s", why)  # the technical detail, for a bug report
    log.warning(
        "No usable keyring: %s. The sign-in token is kept in %s.", _plainly(silent, file_based), MEMORY_ONLY_DESCRIPTION
    )
    return MemoryCredentialStore(reason=why)


def _plainly(silent: list[str], file_based: bool) -> str:
    """Why no keyring can be used, in words a user can act on (the Log tab shows it; no class names)."""
    if silent:
        return f"{' and '.join(dict.fromkeys(silent))} did not answer (locked, or not running)"
    if file_based:
        return "only a file-based keyring is installed, and it would keep the token in a plain file"
    if sys.platform.startswith("linux"):
        return "no keyring service runs on this computer (GNOME Keyring, KWallet or another Secret Service)"
    return "the system keyring cannot be reached"
