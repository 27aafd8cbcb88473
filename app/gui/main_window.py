"""The main window: puts the pieces together and routes user intent to the session. No business logic here.

Tabs: Queue (drop zone, choices for new files, the queue table), Jobs (the account's jobs on the server),
Log. The toolbar holds the common actions and the account switcher; the status bar shows the totals and
the connection. Quitting (Ctrl+Q, File > Quit, the window's close button) with files at work asks first.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QTabWidget,
    QToolBar,
    QWidget,
)

from app.core.pipeline.model import ItemSnapshot, QueueTotals, Stage, queue_time_left
from app.core.settings import Profile, Settings
from app.core.share_link import ShareLink, share_link
from app.gui import dialogs, units
from app.gui.account_menu import AccountButton
from app.gui.drop_zone import paths_from_mime
from app.gui.estimates import EstimateService
from app.gui.icons import app_icon
from app.gui.jobs_panel import JobsPanel
from app.gui.labels import plain_label
from app.gui.log_view import LogView
from app.gui.logs import AppLogging
from app.gui.notifier import Notifier
from app.gui.plain_errors import plain_words
from app.gui.queue_actions import QueueActions
from app.gui.queue_model import QueueModel
from app.gui.queue_panel import QueuePanel
from app.gui.quit_prompt import ask_to_quit
from app.gui.session import AppSession

log = logging.getLogger(__name__)

_NOT_STARTED = (Stage.WAITING, Stage.DONE, Stage.FAILED, Stage.CANCELLED)
_WORKING = (Stage.COMPRESSING, Stage.UPLOADING, Stage.PROCESSING, Stage.DOWNLOADING)
VIDEO_FILTER = (
    "Videos (*.mp4 *.mov *.m4v *.mkv *.avi *.webm *.mts *.m2ts *.mpg *.mpeg *.wmv *.flv *.3gp);;All files (*)"
)


def _startable(item: ItemSnapshot) -> bool:
    """What Start all starts: files waiting for the user's Start (a queued one is started already)."""
    return item.stage is Stage.WAITING and not item.queued


def totals_text(totals: QueueTotals) -> str:
    if totals.items == 0:
        return "Queue empty"
    parts = [units.count_of(totals.items, "file")]
    if totals.active:
        parts.append(f"{totals.active} working")
    if totals.done:
        parts.append(f"{totals.done} done")
    if totals.failed:
        parts.append(f"{totals.failed} failed")
    if totals.bytes_total:
        parts.append(
            f"{units.percent(totals.bytes_done / totals.bytes_total)} of {units.human_bytes(totals.bytes_total)}"
        )
    if totals.rate:
        parts.append(units.human_rate(totals.rate))
    if totals.active and totals.eta is not None:
        parts.append(units.time_left(totals.eta))
    return " · ".join(parts)


class MainWindow(QMainWindow):
    def __init__(self, session: AppSession, logging_: AppLogging, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.bridge = session.bridge
        self.setWindowTitle("ReelDrop")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)

        self.model = QueueModel(self)
        self.queue_panel = QueuePanel(self.model)
        self.jobs_panel = JobsPanel(self.bridge, lambda: self.session.settings.output_folder, session.paths.cache)
        self.log_view = LogView(logging_.tail, logging_.log_file)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.queue_panel, "&Queue")
        self.tabs.addTab(self.jobs_panel, "&Jobs on the server")
        self.tabs.addTab(self.log_view, "&Log")
        self.setCentralWidget(self.tabs)

        self.estimates = EstimateService(
            self.bridge, self.model, allow_hardware=session.settings.hardware_encoder, parent=self
        )
        self.notifier = Notifier(self, enabled=session.settings.notifications)
        self.queue_actions = QueueActions(self.queue_panel.selected_items, self)
        self.account = AccountButton()
        self.totals_label = plain_label("Queue empty")
        self._totals: QueueTotals | None = None  # the latest from the bridge, shown with the estimates
        self.connection_label = plain_label()
        # A normal widget, not a permanent one: a message ("Link … copied", "… is done") takes its place for
        # a few seconds. As a permanent widget with all the stretch it left messages no room to be seen.
        self.statusBar().addWidget(self.totals_label, 1)
        self.statusBar().addPermanentWidget(self.connection_label)
        self._quit_question: QMessageBox | None = None
        self._build_actions()
        self._wire()
        self._show_settings(session.settings)
        self._size_for_screen()

    # -- construction -----------------------------------------------------------------------------
    def _action(
        self, text: str, shortcut: str | QKeySequence.StandardKey | None, slot: object, tip: str = ""
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work whichever tab has focus
        return action

    def _build_actions(self) -> None:
        self.add_files_action = self._action(
            "&Add files…", QKeySequence.StandardKey.Open, self.choose_files, "Add video files"
        )
        self.add_folder_action = self._action(
            "Add &folder…", "Ctrl+Shift+O", self.choose_folder, "Add every video in a folder"
        )
        self.start_all_action = self._action(
            "Start &all", "Ctrl+Shift+Return", self.start_all, "Start every waiting file"
        )
        self.start_all_action.setEnabled(False)  # nothing waits to be started yet
        self.settings_action = self._action("&Settings…", QKeySequence.StandardKey.Preferences, self.open_settings)
        if self.settings_action.shortcut().isEmpty():
            self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.sign_in_action = self._action("Sign &in to a server…", None, lambda: self.open_sign_in())
        self.about_action = self._action("&About ReelDrop", None, self.open_about)
        self.quit_action = self._action("&Quit", QKeySequence.StandardKey.Quit, self.request_quit)
        if self.quit_action.shortcut().isEmpty():  # Windows' key scheme has none (nor has Qt's offscreen one)
            self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        for number, tab in enumerate(("Queue", "Jobs", "Log"), start=1):
            self._action(f"Show {tab}", f"Ctrl+{number}", lambda _c=False, i=number - 1: self.tabs.setCurrentIndex(i))

        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        for action in (self.add_files_action, self.add_folder_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.sign_in_action)
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        queue_menu = menus.addMenu("&Queue")
        queue_menu.addAction(self.start_all_action)
        for action in self.queue_actions.actions.values():
            queue_menu.addAction(action)
            self.addAction(action)
        queue_menu.addMenu(self.queue_actions.preset_menu)
        help_menu = menus.addMenu("&Help")
        help_menu.addAction(self.about_action)

        table = self.queue_panel.table
        for name in (
            "start",
            "pause",
            "resume",
            "cancel",
            "retry",
            "open_results",
            "copy_link",
            "show_error",
            "remove",
        ):
            table.addAction(self.queue_actions.actions[name])
        table.addAction(self.queue_actions.preset_menu.menuAction())

        toolbar = QToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addAction(self.add_files_action)
        toolbar.addSeparator()
        for name in ("pause", "resume", "cancel", "retry", "open_results"):
            toolbar.addAction(self.queue_actions.actions[name])
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        toolbar.addWidget(self.account)
        toolbar.addAction(self.settings_action)
        self.addToolBar(toolbar)

    def _wire(self) -> None:
        bridge, session, panel = self.bridge, self.session, self.queue_panel
        bridge.snapshots_changed.connect(self.model.update)
        bridge.snapshots_changed.connect(lambda _items: self.queue_actions.update_enabled())
        bridge.snapshots_changed.connect(
            lambda items: self.start_all_action.setEnabled(any(_startable(item) for item in items))
        )
        bridge.totals_changed.connect(self._show_totals)
        self.model.estimates_changed.connect(lambda: self._show_totals(self._totals))
        bridge.item_finished.connect(self.notifier.item_finished)
        bridge.item_failed.connect(self.notifier.item_failed)
        self.notifier.notified.connect(lambda title, _message: self.statusBar().showMessage(title, 8000))
        panel.table.selectionModel().selectionChanged.connect(lambda *_a: self.queue_actions.update_enabled())
        panel.drop_zone.paths_dropped.connect(self.add_paths)
        panel.drop_zone.add_files_requested.connect(self.choose_files)
        panel.drop_zone.add_folder_requested.connect(self.choose_folder)
        panel.preset_chosen.connect(lambda name: self._change_settings(default_preset=name))
        panel.output_folder_chosen.connect(lambda folder: self._change_settings(output_folder=folder))
        panel.start_all_requested.connect(self.start_all)
        panel.row_activated.connect(self._row_activated)
        self.model.preset_change_requested.connect(
            lambda item_id, name: session.run_command("set_preset", [item_id], name)
        )
        self.queue_actions.command_requested.connect(self._run_command)
        self.queue_actions.preset_requested.connect(lambda name, ids: session.run_command("set_preset", ids, name))
        self.queue_actions.error_requested.connect(self.show_error)
        self.queue_actions.link_requested.connect(self.copy_link)
        self.account.profile_chosen.connect(session.switch_profile)
        self.account.sign_in_requested.connect(lambda: self.open_sign_in())
        self.account.sign_out_requested.connect(self.sign_out)
        session.status_changed.connect(self.connection_label.setText)
        session.waiting_changed.connect(self._waiting_changed)
        session.saved_queue_read.connect(self._show_saved_queue)
        session.settings_changed.connect(self._show_settings)
        session.connected.connect(self._connected)
        session.disconnected.connect(lambda: self.jobs_panel.set_client(None))
        session.sign_in_needed.connect(self._sign_in_needed)
        session.problem.connect(lambda text: dialogs.inform(self, "ReelDrop", text))

    def _size_for_screen(self) -> None:
        metrics = self.fontMetrics()
        width, height = metrics.averageCharWidth() * 140, metrics.height() * 36
        screen = QGuiApplication.primaryScreen()
        if screen is not None:
            available = screen.availableGeometry()
            width, height = min(width, int(available.width() * 0.9)), min(height, int(available.height() * 0.9))
        self.resize(width, height)

    # -- adding files -----------------------------------------------------------------------------
    def add_paths(self, paths: list[Path]) -> None:
        self.session.add_paths(paths)
        self.tabs.setCurrentWidget(self.queue_panel)
        self.statusBar().showMessage(f"Adding {units.count_of(len(paths), 'item')}…", 3000)

    def choose_files(self) -> None:
        names, _filter = QFileDialog.getOpenFileNames(self, "Add videos", str(Path.home()), VIDEO_FILTER)
        if names:
            self.add_paths([Path(name) for name in names])

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add every video in a folder", str(Path.home()))
        if folder:
            self.add_paths([Path(folder)])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if paths_from_mime(event.mimeData()):
            event.acceptProposedAction()
            self.queue_panel.drop_zone.set_hovering(True)

    def dragLeaveEvent(self, event: object) -> None:
        self.queue_panel.drop_zone.set_hovering(False)

    def dropEvent(self, event: QDropEvent) -> None:
        self.queue_panel.drop_zone.set_hovering(False)
        paths = paths_from_mime(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)

    # -- queue commands ---------------------------------------------------------------------------
    def start_all(self) -> None:
        waiting = [item.item_id for item in self.model.items() if _startable(item)]
        self.session.run_command("start", waiting)

    def _run_command(self, name: str, item_ids: list[str]) -> None:
        if name in ("cancel", "remove"):
            chosen = set(item_ids)
            started = [i for i in self.model.items() if i.item_id in chosen and i.stage not in _NOT_STARTED]
            if started:
                # Work would be thrown away: ask first (asynchronously; the queue keeps moving meanwhile).
                dialogs.confirm_stop(self, name, len(started), lambda: self.session.run_command(name, item_ids))
                return
        self.session.run_command(name, item_ids)

    def _row_activated(self, item: ItemSnapshot) -> None:
        if item.stage is Stage.FAILED:
            self.show_error(item)
        elif item.results_dir is not None:
            self.queue_actions.trigger("open_results")

    def copy_link(self, item: ItemSnapshot) -> None:
        """Put a link to the finished file's video (else its results ZIP) on the clipboard, to share."""
        connection = self.session.connection
        if connection is None or item.job_id is None:
            return
        name = item.source.name
        self.statusBar().showMessage(f"Getting a link to {name}…")
        self.bridge.run(
            share_link,
            connection.client,
            item.job_id,
            item.preset,
            on_done=lambda link: self._link_ready(name, link),
            on_error=lambda error: self.statusBar().showMessage(f"No link to {name}: {plain_words(error)}", 10000),
        )

    def _link_ready(self, name: str, link: ShareLink) -> None:
        QGuiApplication.clipboard().setText(link.url)
        lasting = f"; it works for {units.human_duration(link.expires_in)}" if link.expires_in else ""
        self.statusBar().showMessage(f"Link to the {link.what} of {name} copied{lasting}.", 10000)

    def show_error(self, item: ItemSnapshot) -> None:
        dialogs.show_item_error(self, item, lambda: self.session.run_command("retry", [item.item_id]))

    # -- settings, accounts, about ----------------------------------------------------------------
    def _change_settings(self, **changes: object) -> None:
        try:
            self.session.apply_settings(self.session.settings.with_changes(**changes))
        except ValueError as exc:
            dialogs.inform(self, "ReelDrop", str(exc))

    def _show_settings(self, settings: Settings) -> None:
        self.queue_panel.show_choices(settings.default_preset, settings.output_folder)
        self._show_account()
        self.notifier.enabled = settings.notifications
        self.estimates.set_allow_hardware(settings.hardware_encoder)

    def _show_account(self) -> None:
        session = self.session
        self.account.show_settings(
            session.settings,
            connected=session.connection is not None,
            needs_sign_in=session.sign_in_needed_for is not None,
        )

    def _connected(self, connection: object) -> None:
        self._show_account()
        self.jobs_panel.set_client(self.session.connection.client if self.session.connection else None)

    def open_settings(self) -> None:
        dialogs.open_settings(self, self.session)

    def open_sign_in(self, profile: Profile | None = None) -> None:
        dialogs.open_sign_in(self, self.session, profile)

    def _sign_in_needed(self, profile: Profile | None) -> None:
        # Cancelled, the profile stays the active one, not connected: the account menu offers to sign in
        # again or to choose another account (choosing is the user's, never a side effect of Cancel).
        dialogs.open_sign_in(self, self.session, profile)

    def sign_out(self, profile_name: str) -> None:
        dialogs.sign_out(self.session, profile_name)

    def open_about(self) -> None:
        dialogs.open_about(self, self.bridge)

    def _show_totals(self, totals: QueueTotals | None) -> None:
        """The status bar's figures; its time left counts the queued files' estimated encodes (the core's
        totals cannot: the estimates are made here)."""
        if totals is None:
            return
        self._totals = totals
        eta = queue_time_left(self.model.items(), self.model.compress_seconds())
        self.totals_label.setText(totals_text(dataclasses.replace(totals, eta=eta)))

    # -- the queue before the pipeline is up -------------------------------------------------------
    def _waiting_changed(self, waiting: str | None) -> None:
        self.queue_panel.set_waiting(waiting)
        self._show_account()

    def _show_saved_queue(self, items: list[ItemSnapshot]) -> None:
        """The queue as it was left, greyed (QueuePanel.set_waiting) until the live one replaces it."""
        self.model.update(items)
        self.totals_label.setText(f"{units.count_of(len(items), 'file')} in the queue" if items else "Queue empty")

    # -- quitting ---------------------------------------------------------------------------------
    def files_working(self) -> int:
        """Files being compressed, uploaded, processed or downloaded now (what a quit interrupts)."""
        if self.session.pipeline is None:
            return 0  # the saved queue on screen is not at work yet: quitting interrupts nothing
        return sum(1 for item in self.model.items() if item.stage in _WORKING)

    def request_quit(self) -> None:
        """Ctrl+Q, File > Quit and the window's close button: with files at work, ask first (no work is lost
        either way: they continue next launch), unless the user chose "Don't ask again"."""
        if self._quit_question is not None:
            self._quit_question.raise_()
            return
        if not self._wants_question():
            self.close()
            return
        self._quit_question = ask_to_quit(self, self.files_working(), self._quit_answered)

    def _wants_question(self) -> bool:
        return self.session.settings.ask_before_quitting and self.files_working() > 0

    def _quit_answered(self, quit_now: bool, dont_ask_again: bool) -> None:
        self._quit_question = None
        if not quit_now:
            return
        if dont_ask_again:
            self._change_settings(ask_before_quitting=False)  # saved in order, before the app exits
        log.info("Quitting with %s at work; they continue next launch", units.count_of(self.files_working(), "file"))
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if event.spontaneous() and (self._quit_question is not None or self._wants_question()):
            # The window manager's close button: the same question as Ctrl+Q. A close() from code (quitting
            # after the answer, tests, shutdown) closes at once.
            event.ignore()
            self.request_quit()
            return
        if self._quit_question is not None:
            self._quit_question.close()
        self.notifier.hide()
        self.estimates.close()
        log.info("Window closed")
        super().closeEvent(event)
