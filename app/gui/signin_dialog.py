"""Sign in to a ReelDrop server: address, user name, password -> a token kept in the OS keyring.

The dialog says where the token will be kept ("Secret Service (gnome-keyring)", "macOS Keychain"...) and
warns plainly when there is no keyring (memory only: asked again next launch). The password itself is
never stored; the network call and the keyring write run off the main thread. Enter in a field signs in
when everything needed is filled, and otherwise moves to what is missing: it never closes the dialog.
"""

from __future__ import annotations

import dataclasses
import logging
from urllib.parse import urlsplit

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QMessageBox,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from app.core.api import BackendClient
from app.core.credentials import CredentialStore
from app.core.settings import EMBEDDED_PROFILE_NAME, Profile, SettingsError, check_server_url, plain_http_warning
from app.gui.bridge import Bridge
from app.gui.labels import plain_box, plain_label
from app.gui.plain_errors import plain_words

log = logging.getLogger(__name__)

ERROR_STYLE = "color: #d32f2f;"  # readable on light and dark backgrounds


def sign_in(store: CredentialStore, profile: Profile, password: str) -> Profile:
    """Get a token from the server and keep it in `store` (blocking: network and keyring)."""
    assert profile.server_url is not None
    client = BackendClient(profile.server_url, attempts=2)
    try:
        token = client.login(profile.username, password)
    finally:
        client.close()
    store.set_token(profile.name, profile.server_url, token)
    log.info("Signed in to %s as %s; token kept in %s", profile.server_url, profile.username, store.describe())
    return profile


def keyring_note(store: CredentialStore) -> tuple[str, bool]:
    """The sentence about where the sign-in is kept, and whether it is a warning."""
    if store.persistent:
        return f"Your sign-in will be kept safely in {store.describe()}.", False
    return (
        "No keyring is available on this computer, so your sign-in is kept in memory only: "
        "you will be asked to sign in again next time ReelDrop starts.",
        True,
    )


class SignInDialog(QDialog):
    def __init__(
        self, bridge: Bridge, store: CredentialStore, parent: QWidget | None = None, *, profile: Profile | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sign in to a ReelDrop server")
        self._bridge = bridge
        self._store = store
        self.profile: Profile | None = None  # set when signed in
        self.plain_http_question: QMessageBox | None = None  # open while the user decides
        self._plain_http_box: QMessageBox | None = None
        self._awaiting_plain_http: Profile | None = None
        # A server already accepted unencrypted (signing in again to it): not asked twice.
        self._known_plain_http = {profile.server_url: True} if profile and profile.allow_plain_http else {}

        self.server = QLineEdit(profile.server_url if profile and profile.server_url else "")
        self.server.setPlaceholderText("https://reeldrop.example.com")
        self.username = QLineEdit(profile.username if profile else "")
        self.username.setPlaceholderText("you@example.com")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.name = QLineEdit(profile.name if profile else "")
        self.name.setPlaceholderText("optional, e.g. Studio server")
        self.name.setToolTip("How this account is named in ReelDrop's account menu")
        for field, label in (
            (self.server, "Server address"),
            (self.username, "User name"),
            (self.password, "Password"),
        ):
            field.setAccessibleName(label)
            field.textChanged.connect(self._update_button)
        for field in (self.server, self.username, self.password, self.name):
            field.returnPressed.connect(self._focus_missing)

        note, warning = keyring_note(store)
        self.keyring_label = plain_label(note)
        self.keyring_label.setWordWrap(True)
        self.keyring_icon = plain_label()
        icon = QStyle.StandardPixmap.SP_MessageBoxWarning if warning else QStyle.StandardPixmap.SP_MessageBoxInformation
        size = self.fontMetrics().height()
        self.keyring_icon.setPixmap(self.style().standardIcon(icon).pixmap(size, size))
        self.keyring_warning = warning
        self.status = plain_label()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        form = QFormLayout()
        form.addRow("&Server address:", self.server)
        form.addRow("&User name:", self.username)
        form.addRow("&Password:", self.password)
        form.addRow("Account &name:", self.name)
        note_row = QFormLayout()
        note_row.addRow(self.keyring_icon, self.keyring_label)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.sign_in_button = self.buttons.addButton("Sign in", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(note_row)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        # Only now, with the button inside the dialog, does setDefault make it the dialog's default: set
        # earlier, Qt chose Cancel (the first button) when showing, and Enter in a field discarded the form.
        self.sign_in_button.setDefault(True)
        # Enter never means Cancel, even with the focus on it (after a click on Sign in, say): Escape does.
        cancel = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAutoDefault(False)
        self.setMinimumWidth(self.fontMetrics().averageCharWidth() * 64)
        self._busy = False
        self._update_button()
        (self.password if profile else self.server).setFocus()

    def _missing(self) -> QLineEdit | None:
        """The first field a sign-in still needs."""
        return next((f for f in (self.server, self.username) if not f.text().strip()), None) or (
            None if self.password.text() else self.password
        )

    def _update_button(self) -> None:
        self.sign_in_button.setEnabled(self._missing() is None and not self._busy)

    def _focus_missing(self) -> None:
        # Enter with something missing: the default button is disabled, so Qt does nothing; go to the gap.
        missing = self._missing()
        if missing is not None and not self._busy:
            missing.setFocus()

    def _profile_from_fields(self) -> Profile:
        url = check_server_url(self.server.text())
        # host:port, as the URL says it: two servers on one machine (localhost:8000, localhost:8001) stay apart.
        name = self.name.text().strip() or urlsplit(url).netloc or url
        if name == EMBEDDED_PROFILE_NAME:
            raise SettingsError(f"{EMBEDDED_PROFILE_NAME!r} is the built-in account; choose another name")
        known = self._known_plain_http.get(url, False)
        return Profile(name, url, self.username.text().strip(), allow_plain_http=known)

    def _submit(self) -> None:
        try:
            profile = self._profile_from_fields()
        except SettingsError as exc:
            self._show_error(str(exc)[:1].upper() + str(exc)[1:] + ".")
            return
        warning = plain_http_warning(profile.server_url or "")
        if warning and not profile.allow_plain_http:
            self._ask_about_plain_http(profile, warning)
            return
        self._sign_in(profile)

    def _ask_about_plain_http(self, profile: Profile, warning: str) -> None:
        """Once per server: the answer is kept in its profile (allow_plain_http)."""
        self._awaiting_plain_http = profile
        box = self._plain_http_box
        if box is None:
            # One box for the dialog's life, a child of it: a box deleted on close while its parent may go
            # first crashed the test harness (a deferred delete of an object already gone).
            box = plain_box(QMessageBox(self))
            box.setIcon(QMessageBox.Icon.Warning)
            box.setWindowTitle("Unencrypted connection")
            box.setInformativeText("Ask the server's owner for its https:// address if it has one.")
            anyway = box.addButton("Sign in unencrypted", QMessageBox.ButtonRole.DestructiveRole)
            back = box.addButton("Go back", QMessageBox.ButtonRole.RejectRole)
            box.setDefaultButton(back)  # Return goes back: only a deliberate choice sends a password in clear
            anyway.clicked.connect(lambda: self._answer_plain_http(True))
            back.clicked.connect(lambda: self._answer_plain_http(False))
            self._plain_http_box = box
        box.setText(warning[:1].upper() + warning[1:] + ".")
        self.plain_http_question = box
        box.open()

    def _answer_plain_http(self, send_anyway: bool) -> None:
        profile, self._awaiting_plain_http, self.plain_http_question = self._awaiting_plain_http, None, None
        if profile is None:
            return
        if send_anyway:
            self._sign_in(dataclasses.replace(profile, allow_plain_http=True))
        else:
            self._show_error("Not signed in: the server's address is not https://.")

    def _sign_in(self, profile: Profile) -> None:
        self._set_busy(True)
        self.status.setText(f"Signing in to {profile.server_url}…")
        self.status.setStyleSheet("")
        self._bridge.run(
            sign_in, self._store, profile, self.password.text(), on_done=self._signed_in, on_error=self._failed
        )

    def _signed_in(self, profile: Profile) -> None:
        self._set_busy(False)
        self.password.clear()
        self.profile = profile
        self.accept()

    def _failed(self, error: BaseException) -> None:
        self._set_busy(False)
        log.info("Sign-in failed: %s", error)
        self._show_error(plain_words(error))

    def _show_error(self, text: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(ERROR_STYLE)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        for field in (self.server, self.username, self.password, self.name):
            # Read-only, not disabled: a disabled field would hand the focus to Cancel, and a second Enter
            # pressed while signing in would then throw the form away.
            field.setReadOnly(busy)
        self._update_button()
