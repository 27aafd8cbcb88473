"""The "This computer" profile: the reference backend, started on this machine for the app and the CLI.

A new user tries everything without an account: the embedded server (moto S3 in memory, SQLite in the
app's data dir) starts on 127.0.0.1, and a local user gets a token that lives only as long as it runs.

It runs in a child process of its own. The embedded S3, the API and the worker are Python: inside the
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
import os
import secrets
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.child_lifetime import end_with_this_process, exit_when_orphaned
from app.core.logsafe import RedactingFilter

if TYPE_CHECKING:
    from app.server.services import Services
    from app.server.threaded import ThreadedServer

log = logging.getLogger(__name__)

LOCAL_USERNAME = "this-computer"
PROCESS_NAME = "reeldrop-local-backend"
STOP_WAIT_S = 30.0
SERVER_NICENESS = 5  # as ffmpeg runs (app.core.media.runner): below the window, above nothing else
SPAWN_ALLOWANCE_S = 30.0  # a fresh interpreter importing the server stack, on a slow disk, before `timeout`


class LocalBackendError(RuntimeError):
    """The built-in server could not be started."""


@dataclass
class LocalBackend:
    """The running child: its URL and the local user's token. ``stop()`` ends it (blocking)."""

    url: str
    token: str
    _process: BaseProcess
    _pipe: Connection
    _logs: logging.handlers.QueueListener

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # the child is already gone: nothing to tell it
            self._pipe.send("stop")
        self._process.join(STOP_WAIT_S)
        if self._process.is_alive():
            log.warning("the built-in server did not stop within %.0f s; ending it", STOP_WAIT_S)
            self._process.kill()
            self._process.join(5.0)
        self._pipe.close()
        self._logs.stop()


def start_local_backend(data_dir: Path, timeout: float = 30.0) -> LocalBackend:
    """Start the built-in server in a child process; returns once it accepts connections."""
    # "spawn" everywhere: forking a process that runs Qt and threads is unsafe, and a frozen app
    # supports spawn through multiprocessing.freeze_support() in its entry points.
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    records: Any = context.Queue()
    relay = logging.handlers.QueueListener(records, _Relay())
    relay.start()
    process = context.Process(
        target=serve_local_backend,
        args=(data_dir, theirs, records, timeout, os.getpid()),
        name=PROCESS_NAME,
        daemon=True,
    )
    try:
        process.start()
        if process.pid is not None:  # the child watches us itself; on Windows it also joins our Job Object
            end_with_this_process(process.pid)
        theirs.close()  # only the child holds its end now: its exit shows here as EOF
        answered = ours.poll(timeout + SPAWN_ALLOWANCE_S)
        answer: tuple[str, ...] = ours.recv() if answered else ("failed", "it did not answer in time")
    except (EOFError, OSError):
        answer = ("failed", "it stopped while starting; the log says why")
    if answer[0] != "ready":
        process.kill()
        process.join(5.0)
        ours.close()
        relay.stop()
        raise LocalBackendError(f"The built-in server did not start: {answer[1]}")
    _, url, token = answer
    log.info("built-in backend (This computer) on %s, in process %s", url, process.pid)
    return LocalBackend(url, token, process, ours, relay)


class _Relay(logging.Handler):
    """In the parent: hand each record from the child to the logger of the same name."""

    def handle(self, record: logging.LogRecord) -> bool:
        logging.getLogger(record.name).handle(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:  # handle() does the work
        pass


# -- in the child ---------------------------------------------------------------------------------
def serve_local_backend(data_dir: Path, parent: Connection, records: Any, timeout: float, parent_pid: int) -> None:
    """The child's whole life: start the server, say where it is, serve until told to stop or orphaned."""
    # First of all: a parent killed while we start, or while the worker encodes, must not leave us
    # running. The pipe's EOF below is not enough: the stop after it waits for the worker's job.
    exit_when_orphaned(parent_pid)
    to_parent = logging.handlers.QueueHandler(records)
    to_parent.addFilter(RedactingFilter())  # before the record is flattened into text
    root = logging.getLogger()
    root.handlers[:] = [to_parent]
    root.setLevel(logging.INFO)
    _below_the_window()
    try:
        served, services, token = _start_here(data_dir, timeout)
    except Exception as error:
        logging.getLogger(__name__).exception("the built-in server could not start")
        parent.send(("failed", f"{type(error).__name__}: {error}"))
        return
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
    window, though it has almost nothing to do, waits tens of ms for a core)."""
    with contextlib.suppress(OSError, AttributeError):
        if sys.platform == "win32":
            import ctypes

            below_normal = 0x4000
            ctypes.windll.kernel32.SetPriorityClass(ctypes.windll.kernel32.GetCurrentProcess(), below_normal)
        else:
            os.nice(SERVER_NICENESS)


def _start_here(data_dir: Path, timeout: float) -> tuple[ThreadedServer, Services, str]:
    from app.server.app import build_services
    from app.server.config import load_config
    from app.server.threaded import serve_in_thread

    # An empty environment: "This computer" always means the embedded store, whatever the shell says.
    config = load_config(env={}, data_dir=data_dir)
    services = build_services(config)
    token = _local_token(services)
    return serve_in_thread(services, PROCESS_NAME, timeout), services, token


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
