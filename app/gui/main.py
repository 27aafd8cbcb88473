"""Start the desktop app: folders, logging, the crash dialog, settings, the window; then connect in the
background so the window is on screen at once (the built-in server starts while the user looks at it)."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from app import __version__
from app.core.credentials import CredentialStore
from app.core.last_run import CrashReport, LastRun
from app.core.media.presets import default_catalog
from app.core.paths import AppPaths, app_paths
from app.core.settings import read_settings
from app.gui import dialogs
from app.gui.bridge import Bridge
from app.gui.crash_dialog import CrashReporter
from app.gui.crash_notice import CrashNotice, show_crash_notice
from app.gui.icons import app_icon
from app.gui.inbox import MainThreadInbox
from app.gui.logs import AppLogging, setup_logging
from app.gui.main_window import MainWindow
from app.gui.session import AppSession, PipelineFactory
from app.gui.stall_probe import StallProbe

log = logging.getLogger(__name__)
GIL_SWITCH_INTERVAL_S = 0.001

STALL_PROBE_ENV = "REELDROP_STALL_PROBE"
SIGNAL_WAKE_MS = 250


@dataclass
class RunningApp:
    """Everything `main` starts, so tests can build the same app and take it down again."""

    window: MainWindow
    session: AppSession
    bridge: Bridge
    logging: AppLogging
    crash: CrashReporter
    inbox: MainThreadInbox
    crash_notice: CrashNotice | None = None  # "closed unexpectedly last time", when it did

    def close(self) -> None:
        """Close the window, let the pipeline journal its state, stop the built-in server (blocking)."""
        self.window.close()
        self.session.shutdown()
        self.bridge.close()
        self.crash.uninstall()
        self.inbox.close()
        self.logging.stop()


def application(argv: Sequence[str] | None = None) -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    QApplication.setApplicationName("ReelDrop")
    QApplication.setApplicationDisplayName("ReelDrop")
    QApplication.setApplicationVersion(__version__)
    QApplication.setDesktopFileName("reeldrop")
    QApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication(list(argv if argv is not None else sys.argv))
    app.setWindowIcon(app_icon())
    # The window's thread shares the GIL with the upload and pipeline threads. A thread that wants the GIL
    # waits one switch interval before the holder is asked to let go, and with a dozen busy threads Qt's
    # thread can lose several such rounds in a row: at Python's default 5 ms that added up to stalls of
    # 50-90 ms with 8 uploads running. 1 ms rounds keep it responsive for a little more switching.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    return app


def build_app(
    paths: AppPaths | None = None,
    *,
    store: CredentialStore | None = None,
    pipeline_factory: PipelineFactory | None = None,
    show_crash_dialogs: bool = True,
    previous_crash: CrashReport | None = None,
) -> RunningApp:
    """Create the window and start connecting; needs a QApplication. Returns at once."""
    paths = (paths or app_paths()).ensure()
    app_logging = setup_logging(paths.log)
    log.info("ReelDrop %s starting (data in %s)", __version__, paths.data)
    _warn_if_known_bad_qt()
    if previous_crash is not None:
        log.warning("ReelDrop closed unexpectedly last time; the report is in %s", previous_crash.report_path)
    inbox = MainThreadInbox()  # the one way back to this thread, for every worker (see app.gui.inbox)
    crash = CrashReporter(paths.log, show_dialogs=show_crash_dialogs, inbox=inbox).install()
    loaded = read_settings(paths.settings_file)  # a few hundred bytes, before the window exists
    default_catalog()  # the packaged presets, read once, before any widget needs them
    bridge = Bridge(inbox=inbox)
    session = AppSession(bridge, paths, loaded.settings, store=store, pipeline_factory=pipeline_factory)
    window = MainWindow(session, app_logging)
    notice = show_crash_notice(window, previous_crash) if previous_crash is not None else None
    window.show()
    if loaded.problems:
        dialogs.inform(
            window,
            "Some settings were reset",
            "Some of your settings could not be read and are back to their defaults:\n• "
            + "\n• ".join(loaded.problems),
        )
    session.start()
    return RunningApp(window, session, bridge, app_logging, crash, inbox, notice)


# PySide6 6.12.0 on Python 3.11 aborts at random ("Fatal Python error: bool_dealloc"): pyproject.toml keeps
# pip from installing it there, but a distribution's package or a hand-made venv can still bring it.
KNOWN_BAD_QT = ((3, 11), (6, 12))  # Python up to the first, with PySide6 from the second


def _warn_if_known_bad_qt() -> None:
    import PySide6

    last_python_affected, first_bad_qt = KNOWN_BAD_QT
    qt = tuple(int(part) for part in PySide6.__version__.split(".")[:2] if part.isdigit())
    if sys.version_info[:2] <= last_python_affected and qt >= first_bad_qt:
        log.warning(
            "PySide6 %s on Python %d.%d is known to crash this app (issue 12); "
            "install PySide6-Essentials<6.12 or use Python 3.12+",
            PySide6.__version__,
            *sys.version_info[:2],
        )


def quit_on_signals(app: QApplication) -> QTimer:
    """Ctrl+C in a terminal or a polite `kill` quits like closing the window (the queue is journaled)."""
    for number in (signal.SIGINT, signal.SIGTERM):
        # Queued, not app.quit() at once: a signal that arrives while the window is still being built (before
        # app.exec()) would be lost (quit does nothing without a running loop) and the app would never end.
        # The handler runs on the main thread (Python runs them there), so it may touch Qt.
        signal.signal(number, lambda _n, _f: QTimer.singleShot(0, app.quit))
    # Python runs signal handlers only when it gets control; Qt's loop is C++, so wake Python now and then.
    wake = QTimer(app)
    wake.timeout.connect(lambda: None)
    wake.start(SIGNAL_WAKE_MS)
    return wake


def main(argv: Sequence[str] | None = None) -> int:
    app = application(argv)
    quit_on_signals(app)
    paths = app_paths().ensure()
    last_run = LastRun(paths.log)  # faulthandler into the log folder from here on; the marker of this run
    running = build_app(paths, previous_crash=last_run.begin())
    probe = StallProbe(parent=running.window).start() if os.environ.get(STALL_PROBE_ENV) else None
    code = app.exec()
    if probe is not None:
        log.info("UI responsiveness: %s", probe.summary())
    log.info("Quitting: the queue is saved and continues next launch")
    running.close()
    del running
    # Delete Qt's objects while Python is still whole: letting interpreter shutdown collect them in any
    # order is a known source of crashes at exit with PySide.
    app.shutdown()
    last_run.end()  # last: a crash while shutting down is a crash too
    return code
