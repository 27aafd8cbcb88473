"""The account switcher in the toolbar: "This computer" (built-in server, no account) or a signed-in server."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QToolButton, QWidget

from app.core.settings import Settings


class AccountButton(QToolButton):
    profile_chosen = Signal(str)
    sign_in_requested = Signal()
    sign_out_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setToolTip("Where your videos are processed: this computer, or a ReelDrop server you signed in to")
        self.setAccessibleName("Account")
        self._menu = QMenu(self)
        self.setMenu(self._menu)

    def show_settings(self, settings: Settings, *, connected: bool = True, needs_sign_in: bool = False) -> None:
        """`needs_sign_in`: the active profile has no accepted sign-in (the prompt was cancelled, say)."""
        active = settings.active()
        state = " (not signed in)" if needs_sign_in else "" if connected else " (connecting…)"
        self.setText(f"Account: {active.name}{state}")
        self._menu.clear()
        group = QActionGroup(self._menu)
        for profile in settings.profiles:
            detail = (
                "built-in server, no account needed"
                if profile.embedded
                else f"{profile.username} at {profile.server_url}"
            )
            action = QAction(f"{profile.name} — {detail}", self._menu)
            action.setCheckable(True)
            action.setChecked(profile.name == active.name)
            action.triggered.connect(lambda _checked=False, name=profile.name: self.profile_chosen.emit(name))
            group.addAction(action)
            self._menu.addAction(action)
        self._menu.addSeparator()
        if needs_sign_in:
            # Choosing the active profile again connects anew, and asks for its sign-in with its fields filled.
            self._menu.addAction(f"Sign in to {active.name}…", lambda: self.profile_chosen.emit(active.name))
        self._menu.addAction("Sign in to a server…", self.sign_in_requested.emit)
        if not active.embedded:
            self._menu.addAction(f"Sign out of {active.name}", lambda: self.sign_out_requested.emit(active.name))
