"""Launch the real desktop app (window, session, pipeline, built-in server) inside a test, and close it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QApplication, QMessageBox

from app.core.credentials import CredentialStore, MemoryCredentialStore
from app.core.paths import AppPaths
from app.core.pipeline.model import ItemSnapshot, Stage
from app.core.settings import Settings, save_settings
from app.gui.main import RunningApp, build_app

CONNECT_MS = 60_000
WORK_MS = 120_000


class AppLauncher:
    def __init__(self, qtbot, paths: AppPaths) -> None:
        self.qtbot = qtbot
        self.paths = paths
        self.running: list[RunningApp] = []

    def __call__(self, settings: Settings | None = None, store: CredentialStore | None = None) -> RunningApp:
        if settings is not None:
            save_settings(settings, self.paths.settings_file)
        app = build_app(self.paths, store=store or MemoryCredentialStore(), show_crash_dialogs=False)
        self.running.append(app)
        self.qtbot.waitUntil(lambda: app.session.pipeline is not None, timeout=CONNECT_MS)
        return app

    def close(self, app: RunningApp) -> None:
        if app in self.running:
            self.running.remove(app)
            app.close()

    def close_all(self) -> None:
        for app in reversed(list(self.running)):
            self.close(app)


def items(app: RunningApp) -> list[ItemSnapshot]:
    return app.window.model.items()


def item_named(app: RunningApp, name: str) -> ItemSnapshot | None:
    return next((i for i in items(app) if i.source.name == name), None)


def stage_of(app: RunningApp, name: str) -> Stage | None:
    item = item_named(app, name)
    return item.stage if item else None


def wait_stage(qtbot, app: RunningApp, name: str, *stages: Stage, timeout: int = WORK_MS) -> ItemSnapshot:
    def reached() -> bool:
        item = item_named(app, name)
        if item is not None and item.stage is Stage.FAILED and Stage.FAILED not in stages:
            raise AssertionError(f"{name} failed: {item.error}")
        return item is not None and item.stage in stages

    qtbot.waitUntil(reached, timeout=timeout)
    found = item_named(app, name)
    assert found is not None
    return found


def select(app: RunningApp, *names: str) -> None:
    """Select the rows of these files in the queue table, as a user's clicks would."""
    table, model = app.window.queue_panel.table, app.window.model
    selection = table.selectionModel()
    selection.clearSelection()
    for name in names:
        found = item_named(app, name)
        assert found is not None, f"{name} is not in the queue"
        row = model.row_of(found.item_id)
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        selection.select(model.index(row, 0), flags)


def answer_message_box(qtbot, button_text: str) -> str:
    """Click `button_text` in the message box that is open; returns the box's text."""

    def open_box() -> QMessageBox | None:
        return next((w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()), None)

    qtbot.waitUntil(lambda: open_box() is not None, timeout=5000)
    box = open_box()
    assert box is not None
    text = f"{box.text()}\n{box.informativeText()}"
    button = next(b for b in box.buttons() if b.text() == button_text)
    button.click()
    return text


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
