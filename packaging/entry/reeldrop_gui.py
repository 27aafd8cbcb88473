"""Entry of the frozen ReelDrop desktop app (the windowed executable).

`REELDROP_SMOKE_TEST=SECONDS` is the packaging smoke test's hook: the app starts as usual, quits with
status 0 as soon as the window is connected to its backend (the built-in one by default), and with
status 3 if that has not happened within SECONDS. The app quits through its own event loop, so the
shutdown path (journal saved, built-in server stopped) runs as it does for a user.
"""

from __future__ import annotations

import multiprocessing
import os
import sys

SMOKE_ENV = "REELDROP_SMOKE_TEST"
SMOKE_NOT_CONNECTED = 3


def _arm_smoke_test(seconds: float) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.gui.main import application

    app = application(sys.argv)

    def give_up() -> None:
        print(f"smoke: the window did not connect to a backend within {seconds:g} s", file=sys.stderr, flush=True)
        app.exit(SMOKE_NOT_CONNECTED)

    def connected(_connection: object = None) -> None:
        print("smoke: the window is connected to its backend; quitting", file=sys.stderr, flush=True)
        app.quit()

    def watch_session() -> None:
        # The window's session says when the backend answers (app.gui.session.AppSession.connected).
        sessions = [w.session for w in QApplication.topLevelWidgets() if hasattr(w, "session")]
        session = next((s for s in sessions if hasattr(s, "connected")), None)
        if session is None:
            print("smoke: no session on any window; quitting once the event loop ran", file=sys.stderr, flush=True)
            QTimer.singleShot(2000, app.quit)
            return
        if getattr(session, "connection", None) is not None:
            connected()
            return
        session.connected.connect(connected)

    QTimer.singleShot(0, watch_session)  # runs once the event loop is up, after main() built the window
    QTimer.singleShot(int(seconds * 1000), give_up)


def main() -> int:
    multiprocessing.freeze_support()
    from app.gui.platform_check import exit_if_window_cannot_open

    exit_if_window_cannot_open()  # before any QApplication: what to install, instead of Qt's abort
    smoke = os.environ.get(SMOKE_ENV, "").strip()
    if smoke:
        _arm_smoke_test(float(smoke))
    from app.gui.main import main as gui_main

    return gui_main()


if __name__ == "__main__":
    sys.exit(main())
