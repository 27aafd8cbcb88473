"""Sign-in dialog: server URL + user name + password -> token in a real Secret Service, or memory only."""

from __future__ import annotations

import secrets

import pytest
from keyring.backends import fail
from PySide6.QtCore import Qt

from app.core.api import BackendClient
from app.core.credentials import SERVICE, MemoryCredentialStore, account_name, open_credential_store
from app.core.settings import Profile
from app.gui.signin_dialog import SignInDialog
from tests.support.keyring_env import (
    files_containing,
    secret_service_backend,
    secret_service_items,
    secret_service_problem,
)

TIMEOUT_MS = 20_000


def fill(dialog: SignInDialog, qtbot, url: str, username: str, password: str, name: str) -> None:
    dialog.server.setText(url)
    dialog.username.setText(username)
    dialog.name.setText(name)
    assert not dialog.sign_in_button.isEnabled()  # no password yet
    qtbot.keyClicks(dialog.password, password)
    assert dialog.sign_in_button.isEnabled()


def test_sign_in_keeps_the_token_in_the_secret_service(qtbot, bridge, server, user, reeldrop_home):
    store = open_credential_store(secret_service_backend())
    name = f"studio-{secrets.token_hex(4)}"
    dialog = SignInDialog(bridge, store)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.keyring_label.text().startswith("Your sign-in will be kept safely in Secret Service")
    assert not dialog.keyring_warning

    fill(dialog, qtbot, server.url + "/", user.username, user.password, name)
    try:
        with qtbot.waitSignal(dialog.accepted, timeout=TIMEOUT_MS):
            qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
        assert dialog.profile == Profile(name, server.url, user.username)  # trailing slash dropped
        token = store.get_token(name, server.url)
        assert token
        # The daemon holds exactly that token under our service and this account.
        assert secret_service_items(SERVICE, account_name(name, server.url)) == [token]
        assert BackendClient(server.url, token).me()["username"] == user.username
        assert dialog.password.text() == ""  # the password is not kept, not even in the widget
        assert files_containing(token, reeldrop_home.config, reeldrop_home.data, reeldrop_home.log) == []
        assert files_containing(user.password, reeldrop_home.config, reeldrop_home.data, reeldrop_home.log) == []
    finally:
        store.delete_token(name, server.url)


def test_without_a_keyring_the_dialog_warns_and_keeps_the_token_in_memory(qtbot, bridge, server, user):
    store = open_credential_store(fail.Keyring())
    assert isinstance(store, MemoryCredentialStore)
    name = f"memory-{secrets.token_hex(4)}"
    dialog = SignInDialog(bridge, store)
    qtbot.addWidget(dialog)
    assert dialog.keyring_warning
    assert "memory only" in dialog.keyring_label.text()
    assert "sign in again next time" in dialog.keyring_label.text()

    fill(dialog, qtbot, server.url, user.username, user.password, name)
    with qtbot.waitSignal(dialog.accepted, timeout=TIMEOUT_MS):
        qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    token = store.get_token(name, server.url)
    assert BackendClient(server.url, token).me()["username"] == user.username
    if secret_service_problem() is None:
        assert secret_service_items(SERVICE, account_name(name, server.url)) == []


def test_wrong_password_is_explained_and_nothing_is_stored(qtbot, bridge, server, user):
    store = MemoryCredentialStore()
    dialog = SignInDialog(bridge, store)
    qtbot.addWidget(dialog)
    dialog.show()
    fill(dialog, qtbot, server.url, user.username, "not the password", "work")
    qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "did not accept" in dialog.status.text(), timeout=TIMEOUT_MS)
    assert "Traceback" not in dialog.status.text()
    assert dialog.isVisible() and dialog.profile is None
    assert dialog.sign_in_button.isEnabled()  # the user can correct and try again
    assert store.get_token("work", server.url) is None


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1:9", "cannot be reached"),  # nothing listens on the discard port
        ("ftp://example.test", "Server URL must start with http:// or https://"),
        ("https://bob:pw@example.test", "must not contain a user name or password"),
    ],
)
def test_bad_server_addresses_are_explained(qtbot, bridge, url, words):
    dialog = SignInDialog(bridge, MemoryCredentialStore())
    qtbot.addWidget(dialog)
    fill(dialog, qtbot, url, "alice", "secret", "")
    qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: words in dialog.status.text(), timeout=TIMEOUT_MS)
    assert dialog.profile is None


def test_the_built_in_account_name_cannot_be_taken(qtbot, bridge):
    dialog = SignInDialog(bridge, MemoryCredentialStore())
    qtbot.addWidget(dialog)
    fill(dialog, qtbot, "https://example.test", "alice", "secret", "This computer")
    qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    assert "built-in account" in dialog.status.text()


def test_an_account_without_a_name_is_named_by_host_and_port(qtbot, bridge, server, user):
    # Two servers on one machine (localhost:8000 and :8001) must not both be called "localhost".
    dialog = SignInDialog(bridge, MemoryCredentialStore())
    qtbot.addWidget(dialog)
    fill(dialog, qtbot, server.url, user.username, user.password, "")
    with qtbot.waitSignal(dialog.accepted, timeout=TIMEOUT_MS):
        qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    host_port = server.url.removeprefix("http://")
    assert ":" in host_port and dialog.profile is not None and dialog.profile.name == host_port


def test_plain_http_to_another_machine_is_asked_about_once(qtbot, bridge):
    """Issue 15 item 18: a warning names what would cross the network unencrypted; going back signs in to
    nothing. (Accepting is kept in the profile: tests/e2e/test_cli_connect.py.)"""
    dialog = SignInDialog(bridge, MemoryCredentialStore())
    qtbot.addWidget(dialog)
    fill(dialog, qtbot, "http://192.0.2.10:8000", "alice", "secret", "")
    qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.plain_http_question is not None, timeout=TIMEOUT_MS)
    box = dialog.plain_http_question
    assert "unencrypted" in box.text() and box.textFormat() == Qt.TextFormat.PlainText
    assert box.defaultButton().text() == "Go back"
    qtbot.keyClick(box, Qt.Key.Key_Return)  # the default: go back
    qtbot.waitUntil(lambda: "not https://" in dialog.status.text(), timeout=TIMEOUT_MS)
    assert dialog.profile is None and "Signing in" not in dialog.status.text()
