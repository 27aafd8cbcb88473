"""What the window is connected to: settings, the credential store, the backend, and the pipeline.

Every slow step (opening the keyring, starting the built-in server, building the pipeline, saving
settings, switching accounts) runs through the bridge, off the main thread; the window learns the outcome
from signals. Files dropped before the pipeline is ready wait in `pending` and are added once it is.
Meanwhile the saved queue (the pipeline's journal, a local file) is read and shown as it was left, with
what is being waited for (`waiting_changed`), so a relaunch never looks like an empty queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.connect import resolve_target
from app.core.credentials import CredentialStore, open_credential_store
from app.core.paths import AppPaths
from app.core.pipeline.model import ItemSnapshot, PipelineControl
from app.core.settings import Profile, Settings, save_settings
from app.gui import gc_policy
from app.gui.bridge import Bridge
from app.gui.connection import AccountConnection, SignInNeeded, connect_profile
from app.gui.plain_errors import plain_words
from app.gui.presets_ui import known_preset

log = logging.getLogger(__name__)

CLOSE_WAIT_S = 60.0
PipelineFactory = Callable[[AccountConnection, Settings, AppPaths], PipelineControl]


def default_pipeline_factory(connection: AccountConnection, settings: Settings, paths: AppPaths) -> PipelineControl:
    from app.gui.pipeline_factory import open_pipeline

    return open_pipeline(connection, settings, paths)


@dataclass(frozen=True)
class _Add:
    paths: tuple[Path, ...]
    preset: str
    output_dir: Path


class AppSession(QObject):
    status_changed = Signal(str)  # one line for the status bar, plain words
    busy_changed = Signal(bool)  # connecting / switching
    connected = Signal(object)  # AccountConnection
    disconnected = Signal()
    settings_changed = Signal(object)  # Settings, after a change was applied
    sign_in_needed = Signal(object)  # Profile whose token is missing or refused
    store_ready = Signal(object)  # CredentialStore
    problem = Signal(str)  # something the user should read (plain words)
    # What the queue waits for before it can be worked on ("Starting the built-in server…"); None once it can.
    waiting_changed = Signal(object)  # str | None
    saved_queue_read = Signal(object)  # list[ItemSnapshot]: the queue as it was left, before the pipeline is up

    def __init__(
        self,
        bridge: Bridge,
        paths: AppPaths,
        settings: Settings,
        *,
        store: CredentialStore | None = None,
        pipeline_factory: PipelineFactory | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.paths = paths
        self.settings = settings
        self.store = store
        self.connection: AccountConnection | None = None
        self.pipeline: PipelineControl | None = None
        self.pending: list[_Add] = []
        self._factory = pipeline_factory or default_pipeline_factory
        self._busy = False
        self._generation = 0  # bumped by every start/reconnect; answers for an older one are dropped
        self._connecting: Future[Any] | None = None
        self.waiting: str | None = None  # see waiting_changed
        self.sign_in_needed_for: Profile | None = None  # the active profile, refused or never signed in to

    # -- start-up and switching -------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._busy

    def start(self) -> None:
        """Open the keyring, then connect to the active profile; returns at once. The active profile's saved
        queue is read meanwhile (`saved_queue_read`)."""
        self._generation += 1
        self._set_busy(True)
        self.sign_in_needed_for = None
        self._set_waiting(_connecting_text(self.settings.active()))
        self._read_saved_queue(self._generation)
        if self.store is not None:
            self._on_store(self._generation, self.store)
            return
        self.status_changed.emit("Opening the keyring…")
        generation = self._generation
        self.bridge.run(
            open_credential_store,
            on_done=lambda store: self._on_store(generation, store),
            on_error=lambda error: self._on_connect_error(generation, error),
        )

    def _on_store(self, generation: int, store: CredentialStore) -> None:
        self.store = store
        self.store_ready.emit(store)
        if generation != self._generation:
            return  # another start() or reconnect() came in meanwhile; it connects
        self.status_changed.emit(_connecting_text(self.settings.active()))
        gc_policy.hold_collections()  # a full collection mid-start-up froze the window (see gc_policy)
        self._connecting = self.bridge.run(
            _open,
            store,
            self.settings,
            self.paths,
            self._factory,
            on_done=lambda opened: self._on_open(generation, opened),
            on_error=lambda error: self._on_connect_error(generation, error),
        )

    def _on_open(self, generation: int, opened: tuple[AccountConnection, PipelineControl]) -> None:
        gc_policy.freeze_and_resume()  # the client stack and the pipeline live as long as the app
        if generation != self._generation:
            log.info("A newer connection was asked for; closing this one")
            self.bridge.run(_close, opened[1], opened[0])
            return
        self._connecting = None
        self.connection, self.pipeline = opened
        self.bridge.attach(self.pipeline)
        self._set_busy(False)
        self._set_waiting(None)
        self.status_changed.emit(self.connection.describe())
        self.connected.emit(self.connection)
        pending, self.pending = self.pending, []
        for add in pending:
            self._add_now(add)

    def _on_connect_error(self, generation: int, error: BaseException) -> None:
        gc_policy.freeze_and_resume()
        if generation != self._generation:
            return
        self._connecting = None
        self._set_busy(False)
        if isinstance(error, SignInNeeded):
            # The profile stays the active one: cancelling the sign-in does not choose another account.
            self.sign_in_needed_for = error.profile
            self._set_waiting(f"Sign in to {error.profile.name} to continue")
            self.sign_in_needed.emit(error.profile)
            return
        log.error("Could not connect", exc_info=(type(error), error, error.__traceback__))
        self._set_waiting("Not connected")
        self.problem.emit(plain_words(error))

    def switch_profile(self, name: str) -> None:
        """Make `name` the active profile: saves settings, stops the current pipeline, connects anew."""
        if name == self.settings.active_profile and (self.connection is not None or self._busy):
            return
        if not self.apply_settings(self.settings.with_changes(active_profile=name)):
            self.reconnect()  # same profile, not connected (e.g. after a refused sign-in): try again

    def reconnect(self) -> None:
        """Close what is open (off the main thread) and connect to the active profile again."""
        old_pipeline, old_connection = self.pipeline, self.connection
        self.pipeline, self.connection = None, None
        self._generation += 1  # whatever connection is still being opened is closed when it arrives
        self.bridge.attach(None)
        self.disconnected.emit()
        self._set_busy(True)
        self._set_waiting("Switching…")
        self.bridge.run(_close, old_pipeline, old_connection, on_done=lambda _none: self.start())

    # -- settings ---------------------------------------------------------------------------------
    def apply_settings(self, settings: Settings) -> bool:
        """Save `settings` (in the background, in order) and apply them now. Returns True when the
        active profile changed, and a reconnect is under way."""
        previous, self.settings = self.settings, settings
        self.bridge.command(save_settings, settings, self.paths.settings_file, on_error=self._on_save_error)
        if self.pipeline is not None:
            self.bridge.command(self.pipeline.apply_settings, settings)
        self.settings_changed.emit(settings)
        if previous.active() != settings.active():
            self.reconnect()
            return True
        return False

    def _on_save_error(self, error: BaseException) -> None:
        self.problem.emit(f"Your settings could not be saved. {plain_words(error)}")

    def remember_profile(self, profile: Profile) -> None:
        """Keep a signed-in profile and make it the active one; connects to it unless already connected."""
        reconnecting = self.apply_settings(
            self.settings.with_profile(profile).with_changes(active_profile=profile.name)
        )
        if not reconnecting and (self.connection is None or self.connection.profile != profile):
            self.reconnect()

    # -- queue ------------------------------------------------------------------------------------
    def add_paths(self, paths: Sequence[Path], preset: str | None = None, output_dir: Path | None = None) -> None:
        """Queue files and folders (folders are expanded by the pipeline); returns at once."""
        if not paths:
            return
        add = _Add(
            tuple(paths),
            known_preset(preset or self.settings.default_preset),
            output_dir or self.settings.output_folder,
        )
        if self.pipeline is None:
            self.pending.append(add)
            self.status_changed.emit("Your files will be added as soon as the connection is ready…")
            return
        self._add_now(add)

    def _add_now(self, add: _Add) -> None:
        pipeline = self.pipeline
        assert pipeline is not None
        start = self.settings.start_on_add

        def add_and_start() -> list[str]:
            ids = pipeline.add(list(add.paths), add.preset, add.output_dir)
            if start:
                for item_id in ids:
                    pipeline.start(item_id)
            return ids

        self.bridge.command(add_and_start, on_done=lambda _ids: self.bridge.poll())

    def run_command(self, name: str, item_ids: Sequence[str], *args: Any) -> None:
        """`pipeline.<name>(item_id, *args)` for each id, in order, off the main thread."""
        pipeline = self.pipeline
        if pipeline is None or not item_ids:
            return
        method = getattr(pipeline, name)

        def each() -> None:
            for item_id in item_ids:
                try:
                    method(item_id, *args)
                except KeyError:  # removed meanwhile by another click
                    log.info("%s: item %s is no longer queued", name, item_id)

        self.bridge.command(each, on_done=lambda _none: self.bridge.poll())

    # -- shutdown ---------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop polling, let the pipeline journal where each item is, stop the built-in server (blocking:
        called after the window has closed)."""
        self.bridge.attach(None)
        self._generation += 1
        connecting, self._connecting = self._connecting, None
        gc_policy.resume_collections()
        if connecting is not None:
            # Quitting while the connection is still being opened: wait for it, then close it too.
            try:
                connection, pipeline = connecting.result(timeout=CLOSE_WAIT_S)
            except Exception:
                connection, pipeline = None, None
            if pipeline is not None and pipeline is not self.pipeline:
                _close(pipeline, connection)
        _close(self.pipeline, self.connection)
        self.pipeline, self.connection = None, None

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    def _set_waiting(self, waiting: str | None) -> None:
        self.waiting = waiting
        if waiting is not None:
            self.status_changed.emit(waiting)
        self.waiting_changed.emit(waiting)

    # -- the saved queue, before the pipeline is up -----------------------------------------------
    def _read_saved_queue(self, generation: int) -> None:
        backend_id = resolve_target(settings=self.settings, environ={}).backend_id
        self.bridge.run(
            _saved_queue,
            self.paths,
            backend_id,
            on_done=lambda items: self._on_saved_queue(generation, items),
            on_error=lambda error: log.warning("Could not read the saved queue: %s", error),
        )

    def _on_saved_queue(self, generation: int, items: list[ItemSnapshot]) -> None:
        if generation == self._generation and self.pipeline is None:  # else the live queue is on screen
            self.saved_queue_read.emit(items)


def _saved_queue(paths: AppPaths, backend_id: str) -> list[ItemSnapshot]:
    # Imported here, on the worker: the pipeline's modules are not needed to put the window on screen.
    from app.core.pipeline.driver import saved_queue

    return saved_queue(paths, backend_id)


def _connecting_text(profile: Profile) -> str:
    return "Starting the built-in server…" if profile.embedded else f"Connecting to {profile.server_url}…"


def _open(
    store: CredentialStore, settings: Settings, paths: AppPaths, factory: PipelineFactory
) -> tuple[AccountConnection, PipelineControl]:
    connection = connect_profile(settings, store)
    try:
        return connection, factory(connection, settings, paths)
    except BaseException:
        connection.close()
        raise


def _close(pipeline: PipelineControl | None, connection: AccountConnection | None) -> None:
    if pipeline is not None:
        try:
            pipeline.shutdown(wait=True)
        except Exception:
            log.exception("The pipeline did not shut down cleanly")
    if connection is not None:
        connection.close()
