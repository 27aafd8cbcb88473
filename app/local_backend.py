"""The "This computer" profile: the reference backend, started on this machine for the app and the CLI.

A new user tries everything without an account: the embedded server (its objects in a folder store and
SQLite, both in the app's data dir, so nothing is lost at a quit, a crash or a reboot) starts on 127.0.0.1,
and a local user gets a token kept in its database.

It runs in a child process of its own. The store's routes, the API and the worker are Python: inside the
app's process their work held the GIL the window's event loop needs too, and with 8 uploads running the
window froze for up to half a second at a time (bench/gui_stall.py). In a child they use another core.
The child ends with its parent: it waits on the pipe to the parent and stops when that closes, whether
the parent quit or crashed; and when the parent is killed, a watchdog ends it within a second whatever it
is doing (app.core.child_lifetime), its worker's ffmpeg with it. Its log records come back to the parent's
log through a queue.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing
import multiprocessing.connection
import os
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.child_lifetime import end_with_this_process, exit_when_orphaned
from app.core.logsafe import RedactingFilter
from app.server.installed import missing_server_packages, server_missing_sentence

if TYPE_CHECKING:
    from app.server.services import Services
    from app.server.threaded import ThreadedServer

log = logging.getLogger(__name__)

LOCAL_USERNAME = "this-computer"
PROCESS_NAME = "reeldrop-local-backend"
STOP_WAIT_S = 30.0
SERVER_NICENESS = 5  # as ffmpeg runs (app.core.media.runner): below the window, above nothing else
SPAWN_ALLOWANCE_S = 30.0  # a fresh interpreter importing the server stack, on a slow disk, before `timeout`


RESTARTS_PER_MINUTE = 3  # a server that dies more often than this has a cause a restart will not fix


class LocalBackendError(RuntimeError):
    """The built-in server could not be started."""


@dataclass
class _Child:
    process: BaseProcess
    pipe: Connection


@dataclass(frozen=True)
class _Recipe:
    """How to start the child again, exactly as before: same data dir, same address, same signing key.

    Keeping the address and the key is what makes a restart invisible: URLs the client already holds (part
    PUTs, results, the API itself) and the token (kept in the database) go on working once it is back.
    """

    data_dir: Path
    timeout: float
    port: int
    storage_secret: str
    results_retention_days: int


class LocalBackend:
    """The running child: its URL and the local user's token. ``stop()`` ends it (blocking).

    A watcher thread waits on the child; if it dies without being told to stop (killed, crashed), the watcher
    starts it again on the same address with the same signing key, at most RESTARTS_PER_MINUTE times a
    minute. Meanwhile calls to it fail to connect, and the client's retries carry them over the gap.
    """

    def __init__(
        self, url: str, token: str, child: _Child, recipe: _Recipe, records: Any, logs: logging.handlers.QueueListener
    ) -> None:
        self.url = url
        self.token = token
        self.restarts = 0
        self._child = child
        self._recipe = recipe
        self._records = records
        self._logs = logs
        self._lock = threading.Lock()
        self._stopping = False
        self._restart_times: list[float] = []
        self._wake_watcher, self._wakeup = multiprocessing.get_context("spawn").Pipe()
        self._watcher = threading.Thread(target=self._watch, name="reeldrop-local-backend-watch", daemon=True)
        self._watcher.start()

    @property
    def pid(self) -> int | None:
        return self._child.process.pid

    def is_alive(self) -> bool:
        return self._child.process.is_alive()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True  # from here on a child's exit is ours, never a reason to restart
            child = self._child
        with contextlib.suppress(OSError, ValueError):
            self._wakeup.send("stop")
        _stop_child(child)
        self._watcher.join(5.0)
        self._logs.stop()

    # -- the watcher -----------------------------------------------------------------------------
    def _watch(self) -> None:
        while True:
            with self._lock:
                child = self._child
            ready = multiprocessing.connection.wait([child.process.sentinel, self._wake_watcher])
            with self._lock:
                if self._stopping or self._wake_watcher in ready:
                    return
                if not self._restart(child):
                    return

    def _restart(self, dead: _Child) -> bool:
        """Called with the lock held, once the child is gone unasked. False: given up."""
        dead.process.join(1.0)
        code = dead.process.exitcode
        now = time.monotonic()
        self._restart_times = [t for t in self._restart_times if now - t < 60.0] + [now]
        if len(self._restart_times) > RESTARTS_PER_MINUTE:
            log.error(
                "the built-in server stopped %d times within a minute (last exit code %s); it is not started"
                " again: quit and reopen ReelDrop (the log above says why it stopped)",
                len(self._restart_times),
                code,
            )
            return False
        log.warning("the built-in server stopped unexpectedly (exit code %s); starting it again", code)
        with contextlib.suppress(OSError):
            dead.pipe.close()
        try:
            child, url, _token = _spawn(self._recipe, self._records)
        except LocalBackendError as error:
            log.error("the built-in server could not be started again: %s", error)
            return False
        self._child = child
        self.restarts += 1
        log.info("built-in backend (This computer) back on %s, in process %s", url, child.process.pid)
        return True


def start_local_backend(data_dir: Path, timeout: float = 30.0, results_retention_days: int = 0) -> LocalBackend:
    """Start the built-in server in a child process; returns once it accepts connections."""
    missing = missing_server_packages()
    if missing:  # a sentence now, not a child that dies importing fastapi
        what = '"This computer" (the built-in server)'
        raise LocalBackendError(f"{server_missing_sentence(what, missing)} Or use a server of your own: --server URL.")
    from app.server.threaded import free_port

    launched = time.monotonic()
    context = multiprocessing.get_context("spawn")
    records: Any = context.Queue()
    relay = logging.handlers.QueueListener(records, _Relay())
    relay.start()
    # A new signing key for each launch of the app (never on disk); the same one for every restart of the
    # child within it, so its URLs survive a restart of the child.
    recipe = _Recipe(data_dir, timeout, free_port(), secrets.token_urlsafe(32), results_retention_days)
    try:
        child, url, token = _spawn(recipe, records)
    except LocalBackendError:
        relay.stop()
        raise
    log.info(
        "built-in backend (This computer) on %s, in process %s, ready in %.2f s",
        url,
        child.process.pid,
        time.monotonic() - launched,
    )
    return LocalBackend(url, token, child, recipe, records, relay)


def _spawn(recipe: _Recipe, records: Any) -> tuple[_Child, str, str]:
    # "spawn" everywhere: forking a process that runs Qt and threads is unsafe, and a frozen app
    # supports spawn through multiprocessing.freeze_support() in its entry points.
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(
        target=serve_local_backend,
        args=(recipe, theirs, records, os.getpid()),
        name=PROCESS_NAME,
        daemon=True,
    )
    try:
        process.start()
        if process.pid is not None:  # the child watches us itself; on Windows it also joins our Job Object
            end_with_this_process(process.pid)
        theirs.close()  # only the child holds its end now: its exit shows here as EOF
        answered = ours.poll(recipe.timeout + SPAWN_ALLOWANCE_S)
        answer: tuple[str, ...] = ours.recv() if answered else ("failed", "it did not answer in time")
    except (EOFError, OSError):
        answer = ("failed", "it stopped while starting; the log says why")
    if answer[0] != "ready":
        process.kill()
        process.join(5.0)
        ours.close()
        raise LocalBackendError(f"The built-in server did not start: {answer[1]}")
    _, url, token = answer
    return _Child(process, ours), url, token


def _stop_child(child: _Child) -> None:
    with contextlib.suppress(OSError, ValueError):  # the child is already gone: nothing to tell it
        child.pipe.send("stop")
    child.process.join(STOP_WAIT_S)
    if child.process.is_alive():
        log.warning("the built-in server did not stop within %.0f s; ending it", STOP_WAIT_S)
        child.process.kill()
        child.process.join(5.0)
    child.pipe.close()


class _Relay(logging.Handler):
    """In the parent: hand each record from the child to the logger of the same name."""

    def handle(self, record: logging.LogRecord) -> bool:
        logging.getLogger(record.name).handle(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:  # handle() does the work
        pass


# -- in the child ---------------------------------------------------------------------------------
def serve_local_backend(recipe: _Recipe, parent: Connection, records: Any, parent_pid: int) -> None:
    """The child's whole life: start the server, say where it is, serve until told to stop or orphaned."""
    from app.server.malloc_arenas import limit_malloc_arenas

    limit_malloc_arenas()  # before any other thread allocates: memory flat while gigabytes pass through
    # First of all: a parent killed while we start, or while the worker encodes, must not leave us
    # running. The pipe's EOF below is not enough: the stop after it waits for the worker's job.
    exit_when_orphaned(parent_pid)
    to_parent = logging.handlers.QueueHandler(records)
    to_parent.addFilter(RedactingFilter())  # before the record is flattened into text
    root = logging.getLogger()
    root.handlers[:] = [to_parent]
    root.setLevel(logging.INFO)
    try:
        served, services, token = _start_here(recipe)
    except Exception as error:
        logging.getLogger(__name__).exception("the built-in server could not start")
        parent.send(("failed", f"{type(error).__name__}: {error}"))
        return
    # Only once it is up: the app waits for it to start (the queue says "Starting the built-in server…"),
    # and at a lower priority its start lost the cores to the window's own start-up (0.2 s of ~1.1 s).
    _below_the_window()
    try:
        parent.send(("ready", served.url, token))
        with contextlib.suppress(EOFError, OSError):
            parent.recv()  # "stop"; EOFError when the parent went away without a word
    finally:
        from app.server.app import close_services

        served.stop()
        close_services(services)


def _below_the_window() -> None:
    """Run the built-in server a little below normal priority, as the encodes do: on a machine whose cores
    its S3 and worker keep busy, the scheduler then gives the app's window its turn first (otherwise the
    window, though it has almost nothing to do, waits tens of ms for a core).

    Called once its threads run: on Linux a nice value belongs to one thread (threads started later take
    their creator's), so each thread the process has is lowered; elsewhere it is the whole process's.
    """
    with contextlib.suppress(OSError, AttributeError):
        if sys.platform == "win32":
            import ctypes

            below_normal = 0x4000
            ctypes.windll.kernel32.SetPriorityClass(ctypes.windll.kernel32.GetCurrentProcess(), below_normal)
            return
        lowered = os.getpriority(os.PRIO_PROCESS, 0) + SERVER_NICENESS
        threads = [int(tid) for tid in os.listdir("/proc/self/task")] if sys.platform == "linux" else [0]
        for thread_id in threads:
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                os.setpriority(os.PRIO_PROCESS, thread_id, lowered)


_DRIVERS_THIS_COMPUTER_NEVER_USES = ("redis", "psycopg", "psycopg2")


def _hide_unused_drivers() -> None:
    """Keep huey from importing the Redis and PostgreSQL drivers where they happen to be installed.

    huey.storage imports both at its own import when it can (0.3 s of a 1.1 s start-up here), and the
    built-in server never uses either: its queue and database are SQLite files. A ``None`` entry in
    ``sys.modules`` makes their import fail as if absent, which huey expects; the packaged app leaves them
    out (packaging/reeldrop.spec), so this only brings a developer's checkout to the same start-up.
    """
    for name in _DRIVERS_THIS_COMPUTER_NEVER_USES:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def _start_here(recipe: _Recipe) -> tuple[ThreadedServer, Services, str]:
    _hide_unused_drivers()
    from app.server.app import build_services
    from app.server.config import load_config
    from app.server.threaded import serve_in_thread

    # Only what we set: "This computer" always means its own folder store, whatever the shell says.
    env = {
        "REELDROP_STORAGE_SECRET": recipe.storage_secret,
        "REELDROP_RESULTS_RETENTION_DAYS": str(recipe.results_retention_days),
    }
    config = load_config(env=env, data_dir=recipe.data_dir)
    services = build_services(config)
    token = _local_token(services)
    return serve_in_thread(services, PROCESS_NAME, recipe.timeout, port=recipe.port), services, token


def _local_token(services: Services) -> str:
    from sqlalchemy import select

    from app.server.auth import create_user, issue_token
    from app.server.db import User

    with services.db.session() as session:
        user = session.scalar(select(User).where(User.username == LOCAL_USERNAME))
        if user is None:
            # Nobody signs in as this user: its password is random and never shown or kept.
            user = create_user(
                session, LOCAL_USERNAME, secrets.token_urlsafe(24), services.config.default_quota_bytes, False
            )
        token, _ = issue_token(session, user, services.config.token_ttl_seconds)
    return token
