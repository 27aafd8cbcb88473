"""GUI tests: pytest-qt on Qt's offscreen platform, each test with its own REELDROP_HOME."""

from __future__ import annotations

import os
import threading
from types import FrameType
from typing import Any

# Before the QApplication exists (pytest-qt makes it on first use): no display needed, nothing flashes up.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core import paths
from app.core.paths import AppPaths
from app.gui.bridge import Bridge
from tests.gui.app_harness import AppLauncher


@pytest.fixture(autouse=True)
def reeldrop_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppPaths:
    """Every GUI test writes under its own folder, never the real user profile."""
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "home"))
    return paths.app_paths().ensure()


@pytest.fixture
def launch(qtbot: Any, reeldrop_home: AppPaths) -> Iterator[AppLauncher]:
    """Start the real app (window, session, pipeline, built-in server) in this process; all closed after."""
    launcher = AppLauncher(qtbot, reeldrop_home)
    yield launcher
    launcher.close_all()


@pytest.fixture
def bridge(qapp: object) -> Iterator[Bridge]:
    made = Bridge()
    yield made
    made.close()


class QtOffGuiThread:
    """Records every call into a PySide6 object made on a thread other than the GUI thread.

    A profile hook on the threads started during the test (threading.setprofile) sees each call of a C
    function; one bound to a Qt object (a widget, a QObject, a signal instance: all Shiboken objects) on
    a worker thread is what crashed the app in issue 12, whatever PySide6 version runs."""

    def __init__(self) -> None:
        from shiboken6 import Shiboken

        self._qt_types: tuple[type, ...] = (Shiboken.Object,)
        self._gui_thread = threading.get_ident()
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def hook(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "c_call" or threading.get_ident() == self._gui_thread:
            return
        owner = getattr(arg, "__self__", None)
        if isinstance(owner, self._qt_types) or type(owner).__module__.startswith("PySide6"):
            where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
            call = f"{type(owner).__name__}.{arg.__name__} on {threading.current_thread().name} at {where}"
            with self._lock:
                if len(self.calls) < 20:
                    self.calls.append(call)


@pytest.fixture(autouse=True)
def no_qt_off_the_gui_thread() -> Iterator[QtOffGuiThread]:
    """Every GUI test fails if any thread but the GUI thread touched a PySide6 object."""
    guard = QtOffGuiThread()
    threading.setprofile(guard.hook)
    try:
        yield guard
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
    assert not guard.calls, "PySide6 touched off the GUI thread:\n" + "\n".join(guard.calls)
