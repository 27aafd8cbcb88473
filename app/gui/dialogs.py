"""Opening the app's dialogs and acting on their answers. All are window-modal but asynchronous (`open()`,
never `exec()`), so no nested event loop runs and the queue keeps refreshing behind them."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QMessageBox, QWidget

from app.core.credentials import CredentialStore
from app.core.media import choose_encoder
from app.core.pipeline.model import ItemSnapshot
from app.core.settings import EMBEDDED_PROFILE_NAME, Profile
from app.gui.about_dialog import AboutDialog
from app.gui.bridge import Bridge
from app.gui.labels import plain_box
from app.gui.plain_errors import plain_words, what_to_do
from app.gui.session import AppSession
from app.gui.settings_dialog import SettingsDialog
from app.gui.signin_dialog import SignInDialog

log = logging.getLogger(__name__)

_STOP_WORDS = {
    "cancel": ("Cancel {n}?", "Stop", "The work done so far on {them} is deleted. Your original files are kept."),
    "remove": ("Remove {n}?", "Remove", "{They} will stop and leave the queue. Your original files are kept."),
}


def _box(parent: QWidget, title: str, text: str, icon: QMessageBox.Icon) -> QMessageBox:
    box = plain_box(QMessageBox(icon, title, text, QMessageBox.StandardButton.NoButton, parent))
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return box


def inform(parent: QWidget, title: str, text: str) -> QMessageBox:
    box = _box(parent, title, text, QMessageBox.Icon.Warning)
    box.addButton(QMessageBox.StandardButton.Ok)
    box.open()
    return box


def confirm_stop(parent: QWidget, command: str, count: int, on_yes: Callable[[], None]) -> QMessageBox:
    title, verb, detail = _STOP_WORDS[command]
    files = "this file" if count == 1 else f"{count} files"
    box = _box(parent, title.format(n=files), title.format(n=files), QMessageBox.Icon.Question)
    box.setInformativeText(detail.format(them="it" if count == 1 else "them", They="It" if count == 1 else "They"))
    yes = box.addButton(verb, QMessageBox.ButtonRole.DestructiveRole)
    box.addButton("Keep working", QMessageBox.ButtonRole.RejectRole)
    box.finished.connect(lambda _result: on_yes() if box.clickedButton() is yes else None)
    box.open()
    return box


def show_item_error(parent: QWidget, item: ItemSnapshot, on_retry: Callable[[], None]) -> QMessageBox:
    box = _box(
        parent, f"Why {item.source.name} failed", item.error or "No reason was recorded.", QMessageBox.Icon.Warning
    )
    box.setInformativeText(what_to_do(item.error_type))
    retry = box.addButton("Retry", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Close)
    box.finished.connect(lambda _result: on_retry() if box.clickedButton() is retry else None)
    box.open()
    return box


def open_settings(parent: QWidget, session: AppSession) -> SettingsDialog:
    dialog = SettingsDialog(session.settings, parent, encoder_text="checking…")
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def describe_encoder() -> str:
        return choose_encoder(allow_hardware=session.settings.hardware_encoder).describe()

    session.bridge.run(
        describe_encoder,
        on_done=lambda text: _if_alive(dialog, lambda: dialog.set_encoder_text(text)),
        on_error=lambda error: _if_alive(dialog, lambda: dialog.set_encoder_text(plain_words(error))),
    )
    dialog.accepted.connect(lambda: session.apply_settings(dialog.result_settings) if dialog.result_settings else None)
    dialog.open()
    return dialog


def open_sign_in(parent: QWidget, session: AppSession, profile: Profile | None = None) -> SignInDialog | None:
    store: CredentialStore | None = session.store
    if store is None:
        inform(parent, "Sign in", "ReelDrop is still opening your keyring. Try again in a moment.")
        return None
    dialog = SignInDialog(session.bridge, store, parent, profile=profile)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def done(result: int) -> None:
        if result == QDialog.DialogCode.Accepted and dialog.profile is not None:
            session.remember_profile(dialog.profile)

    dialog.finished.connect(done)
    dialog.open()
    return dialog


def sign_out(session: AppSession, profile_name: str) -> None:
    """Forget the token (server and keyring), then use "This computer"."""
    profile = session.settings.profile(profile_name)
    store = session.store
    connection = session.connection
    if profile is None or store is None or profile.embedded:
        return
    client = connection.client if connection is not None and connection.profile.name == profile_name else None

    def forget() -> None:
        if client is not None:
            try:
                client.logout()
            except Exception as exc:  # offline: the keyring entry still goes
                log.info("Could not revoke the token on %s: %s", profile.server_url, exc)
        store.delete_token(profile.name, profile.server_url)

    session.bridge.run(forget, on_done=lambda _none: session.switch_profile(EMBEDDED_PROFILE_NAME))


def open_about(parent: QWidget, bridge: Bridge) -> AboutDialog:
    dialog = AboutDialog(bridge, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog


def _if_alive(widget: QWidget, action: Callable[[], None]) -> None:
    try:
        widget.isVisible()
    except RuntimeError:  # closed and deleted before the answer came
        return
    action()
