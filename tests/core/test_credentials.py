"""CredentialStore against a real Secret Service daemon, and the memory fallback (RELIABILITY test 18)."""

from __future__ import annotations

import logging
import secrets
import threading

import platformdirs
import pytest
from keyring.backends import chainer, fail, null

from app.core import paths
from app.core.credentials import (
    MEMORY_ONLY_DESCRIPTION,
    SERVICE,
    CredentialStore,
    CredentialStoreError,
    KeyringCredentialStore,
    MemoryCredentialStore,
    account_name,
    open_credential_store,
    refusal_reason,
)
from app.core.settings import Profile, Settings, load_settings, save_settings
from tests.support.keyring_env import (
    files_containing,
    gnome_keyring_running,
    keyring_backend,
    secret_service_backend,
    secret_service_items,
    secret_service_problem,
)

SERVER = "https://videos.example.test"


@pytest.fixture
def reeldrop_home(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def profile_name():
    # Unique per test run so a real keyring shared with other runs never collides.
    return f"test-{secrets.token_hex(6)}"


def test_secret_service_round_trip_and_logout(profile_name):
    store = open_credential_store(secret_service_backend())
    assert isinstance(store, KeyringCredentialStore)
    assert isinstance(store, CredentialStore)
    assert store.persistent
    assert store.describe().startswith("Secret Service")
    if gnome_keyring_running():
        assert store.describe() == "Secret Service (gnome-keyring)"

    account = account_name(profile_name, SERVER)
    first, second = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    try:
        assert store.get_token(profile_name, SERVER) is None
        store.set_token(profile_name, SERVER, first)
        assert store.get_token(profile_name, SERVER) == first
        # The daemon itself holds it, under our service and account.
        assert secret_service_items(SERVICE, account) == [first]

        store.set_token(profile_name, SERVER, second)  # re-login replaces, never duplicates
        assert secret_service_items(SERVICE, account) == [second]
        assert store.get_token(profile_name, "https://other.example.test") is None

        assert store.delete_token(profile_name, SERVER) is True  # logout
        assert store.get_token(profile_name, SERVER) is None
        assert secret_service_items(SERVICE, account) == []
        assert store.delete_token(profile_name, SERVER) is False
    finally:
        store.delete_token(profile_name, SERVER)


def test_default_keyring_is_used_when_secret_service_answers(profile_name):
    problem = secret_service_problem()
    if problem:
        pytest.skip(f"needs a real Secret Service: {problem}")
    # keyring's own choice; with keyrings.alt installed this is a chain that also holds a plaintext file
    # backend, and the store must pick the Secret Service member, never the file.
    store = open_credential_store()
    assert isinstance(store, KeyringCredentialStore)
    assert store.describe().startswith("Secret Service")
    assert refusal_reason(store.backend) is None


def test_no_keyring_backend_keeps_token_in_memory_only(reeldrop_home, profile_name, caplog):
    token = f"tok-{secrets.token_urlsafe(32)}"
    caplog.set_level(logging.DEBUG)
    with keyring_backend(fail.Keyring()):
        store = open_credential_store()

        assert isinstance(store, MemoryCredentialStore)
        assert not store.persistent
        assert store.describe() == MEMORY_ONLY_DESCRIPTION
        assert "fail" in store.reason
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "app.core.credentials"]
        assert len(warnings) == 1
        assert "No usable keyring: no keyring service runs on this computer" in warnings[0].getMessage()
        assert MEMORY_ONLY_DESCRIPTION in warnings[0].getMessage()
        assert "keyring.backends" not in warnings[0].getMessage()  # words a user can act on, no class names
        assert any("keyring.backends.fail" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)

        # What a login does: remember the profile in settings, the token in the store.
        paths.ensure()
        settings = Settings().with_profile(Profile("work", SERVER, "alice")).with_changes(active_profile="work")
        save_settings(settings)
        store.set_token("work", SERVER, token)
        assert store.get_token("work", SERVER) == token
        assert load_settings().active().username == "alice"

        # Logout forgets it.
        assert store.delete_token("work", SERVER) is True
        assert store.get_token("work", SERVER) is None
        store.set_token("work", SERVER, token)  # keep one live while the disk is searched

    on_disk = files_containing(
        token,
        reeldrop_home,
        paths.app_paths().config,
        paths.app_paths(environ={}).config,
        platformdirs.user_data_path("python_keyring"),
        platformdirs.user_config_path("python_keyring"),
    )
    assert on_disk == []
    assert token not in caplog.text


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring()], ids=["fail", "null"])
def test_fail_and_null_backends_are_refused(backend):
    assert refusal_reason(backend)
    with pytest.raises(CredentialStoreError, match="refusing keyring backend"):
        KeyringCredentialStore(backend)
    assert isinstance(open_credential_store(backend), MemoryCredentialStore)


def test_keyrings_alt_plaintext_file_is_refused(reeldrop_home, tmp_path, caplog):
    file_backends = pytest.importorskip("keyrings.alt.file", reason="keyrings.alt is not installed")
    plaintext = file_backends.PlaintextKeyring()
    plaintext.file_path = str(tmp_path / "plaintext-keyring.cfg")  # keep the real home out of it

    assert "keyrings.alt" in refusal_reason(plaintext)
    with pytest.raises(CredentialStoreError):
        KeyringCredentialStore(plaintext)
    with caplog.at_level(logging.WARNING), keyring_backend(plaintext):
        store = open_credential_store()
        token = secrets.token_urlsafe(24)
        store.set_token("work", SERVER, token)
    assert isinstance(store, MemoryCredentialStore)
    assert "only a file-based keyring is installed" in caplog.text and "keyrings.alt" in store.reason
    assert files_containing(token, tmp_path) == []


def test_chain_of_refused_backends_falls_back_to_memory(tmp_path, monkeypatch):
    # What keyring builds on a desktop without D-Bus but with keyrings.alt: a chain of file backends.
    file_backends = pytest.importorskip("keyrings.alt.file", reason="keyrings.alt is not installed")
    plaintext = file_backends.PlaintextKeyring()
    plaintext.file_path = str(tmp_path / "plaintext-keyring.cfg")
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [plaintext, null.Keyring()])

    store = open_credential_store(chainer.ChainerBackend())
    assert isinstance(store, MemoryCredentialStore)
    assert "PlaintextKeyring" in store.reason and "null" in store.reason
    with pytest.raises(CredentialStoreError, match="chain"):
        KeyringCredentialStore(chainer.ChainerBackend())


def test_memory_store_keeps_profiles_apart_and_is_thread_safe():
    store = MemoryCredentialStore()
    store.set_token("a", SERVER, "token-a")
    store.set_token("a", None, "token-embedded")
    assert store.get_token("a", SERVER) == "token-a"
    assert store.get_token("a", None) == "token-embedded"
    assert store.get_token("b", SERVER) is None
    with pytest.raises(ValueError, match="non-empty"):
        store.set_token("a", SERVER, "")

    def login_many(worker: int) -> None:
        for i in range(200):
            store.set_token(f"p{worker}-{i}", SERVER, f"t{worker}-{i}")

    threads = [threading.Thread(target=login_many, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(store.get_token(f"p{w}-{i}", SERVER) == f"t{w}-{i}" for w in range(4) for i in range(200))


def test_account_name_is_stable_per_profile_and_server():
    assert account_name("work", SERVER) == f"work:{SERVER}"
    assert account_name("This computer", None) == "This computer:embedded"
    assert account_name("work", SERVER) != account_name("work", "https://other.example.test")


def test_broken_secret_service_is_reported_and_not_used(profile_name):
    backend = secret_service_backend()
    backend.preferred_collection = "/org/freedesktop/secrets/collection/reeldrop_missing"

    store = KeyringCredentialStore(backend)
    with pytest.raises(CredentialStoreError, match=r"Could not read the sign-in token from Secret Service"):
        store.get_token(profile_name, SERVER)
    with pytest.raises(CredentialStoreError, match=r"Could not save the sign-in token to Secret Service"):
        store.set_token(profile_name, SERVER, "never-stored")
    with pytest.raises(ValueError, match="non-empty"):
        store.set_token(profile_name, SERVER, "")

    # At start-up the same fault means: memory only, with the cause kept for the GUI.
    fallback = open_credential_store(backend)
    assert isinstance(fallback, MemoryCredentialStore)
    assert "InitError" in fallback.reason
