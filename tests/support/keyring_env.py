"""Test helpers for the OS keyring: find a real Secret Service or skip, and swap keyring backends safely.

Run keyring tests for real under a private session bus with an unlocked gnome-keyring:
    dbus-run-session -- sh -c 'echo -n pw | gnome-keyring-daemon --unlock --components=secrets; pytest ...'
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

HOW_TO_RUN = (
    "run under: dbus-run-session -- sh -c 'echo -n pw | gnome-keyring-daemon --unlock --components=secrets; pytest ...'"
)


def secret_service_problem() -> str | None:
    """Why no usable, unlocked Secret Service is reachable right now, or None when one is."""
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return f"no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS unset); {HOW_TO_RUN}"
    try:
        import secretstorage
    except ImportError:
        return "the secretstorage package is not installed"
    try:
        connection = secretstorage.dbus_init()
    except Exception as exc:
        return f"cannot connect to the D-Bus session bus: {exc}"
    try:
        if not secretstorage.check_service_availability(connection):
            return f"no Secret Service daemon on the session bus; {HOW_TO_RUN}"
        collection = secretstorage.get_default_collection(connection)
        if collection.is_locked():
            return f"the default Secret Service collection is locked; {HOW_TO_RUN}"
    except Exception as exc:
        return f"the Secret Service does not answer: {exc}"
    finally:
        connection.close()
    return None


def secret_service_backend() -> KeyringBackend:
    """keyring's Secret Service backend, or skip the calling test with the reason."""
    problem = secret_service_problem()
    if problem:
        pytest.skip(f"needs a real Secret Service: {problem}")
    from keyring.backends import SecretService

    return SecretService.Keyring()


def secret_service_items(service: str, username: str) -> list[str]:
    """Secrets stored under (service, username), read straight from the daemon, not through keyring."""
    import secretstorage

    connection = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(connection)
        items = collection.search_items({"service": service, "username": username})
        return [item.get_secret().decode("utf-8") for item in items]
    finally:
        connection.close()


def gnome_keyring_running() -> bool:
    """True when a gnome-keyring-daemon process is visible in /proc (Linux)."""
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text(encoding="utf-8").strip() == "gnome-keyring-d":
                return True
    return False


@contextlib.contextmanager
def keyring_backend(backend: KeyringBackend) -> Iterator[KeyringBackend]:
    """Make `backend` keyring's process-wide default inside the block, and restore the previous one."""
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def files_containing(needle: str, *roots: Path) -> list[Path]:
    """Every regular file under `roots` whose bytes contain `needle` (UTF-8)."""
    wanted = needle.encode("utf-8")
    found = []
    for root in roots:
        if not root.exists():
            continue
        candidates = [root] if root.is_file() else (p for p in root.rglob("*") if p.is_file())
        for path in candidates:
            with contextlib.suppress(OSError):
                if wanted in path.read_bytes():
                    found.append(path)
    return found
