"""What every subcommand shares: logging to a file (redacted), size parsing, one-line error output."""

from __future__ import annotations

import logging
import os
import re
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from app.connect import BackendConnection, NotSignedIn, connect
from app.core import paths
from app.core.api import AuthRequired, BackendError
from app.core.logsafe import install_redaction
from app.core.settings import Settings, SettingsError
from app.local_backend import LocalBackendError

LOG_ENV = "REELDROP_LOG"
LOG_FILENAME = "reeldrop-cli.log"  # the GUI writes reeldrop.log; two rotating writers must not share one
PROG = "reeldrop"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """'20M' -> 20 MiB, '512k' -> 512 KiB, '1.5G', '1048576' (bytes). Units are binary, like curl's."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size (examples: 20M, 512K, 1.5G, 1048576)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


class CommandFailed(Exception):
    """Ends a command with one line for the user and an exit status (the CLI's main prints it)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def connect_signed_in(server: str | None, settings: Settings) -> BackendConnection:
    """A connection whose token the backend accepts, checked once up front: one clear message now rather
    than one per file later. Raises CommandFailed (2 for a malformed server URL, else 1)."""
    try:
        connection = connect(server, settings=settings)
    except SettingsError as exc:
        raise CommandFailed(str(exc), 2) from exc
    except (NotSignedIn, LocalBackendError) as exc:
        raise CommandFailed(str(exc)) from exc
    try:
        connection.client.me()
    except AuthRequired as exc:
        connection.close()
        where = connection.target.describe()
        raise CommandFailed(f"{where} refused the sign-in ({exc.detail}); run `reeldrop login`") from exc
    except BackendError as exc:
        connection.close()
        raise CommandFailed(f"{connection.target.describe()}: {exc.detail}") from exc
    return connection


def error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


def warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr, flush=True)


def setup_logging(level: str | None = None, log_file: str | None = None) -> Path | None:
    """Log to a rotating file (the app's log folder, or ``log_file``) at ``level`` (default: the
    REELDROP_LOG variable, else INFO); only errors reach the terminal. Every handler redacts presigned
    URLs and tokens. Returns the log file, or None if it could not be opened."""
    name = (level or os.environ.get(LOG_ENV) or "info").upper()
    numeric = logging.getLevelName(name)
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r} (debug, info, warning, error)")
    root = logging.getLogger()
    root.setLevel(numeric)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.ERROR)
    console.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(message)s"))
    root.addHandler(console)
    path = Path(log_file) if log_file else paths.app_paths().log / LOG_FILENAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=5 * 1024 * 1024, backupCount=3, encoding="utf-8")
    except OSError as exc:
        warn(f"cannot write the log file {path} ({exc.strerror or exc}); logging to the terminal only")
        install_redaction(root)
        return None
    handler.setLevel(numeric)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    root.addHandler(handler)
    install_redaction(root)
    return path
