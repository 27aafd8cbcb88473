"""`reeldrop`: the headless front end over app.core (login, logout, upload, uploads, run, jobs, download).

This module only parses arguments, sets up logging and dispatches; each command lives in app/commands/.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from app import __version__
from app.commands import auth, jobs, run, upload, uploads
from app.commands.common import LOG_ENV, CommandFailed, error, setup_logging

log = logging.getLogger("app.cli")

EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reeldrop", description="Upload videos to S3 through a ReelDrop server.")
    parser.add_argument("--version", action="version", version=f"reeldrop {__version__}")
    parser.add_argument(
        "--log-level", metavar="LEVEL", help=f"debug, info, warning, error (default: ${LOG_ENV} or info)"
    )
    parser.add_argument("--log-file", metavar="PATH", help="write the log here instead of the app's log folder")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    auth.add_parsers(commands)
    upload.add_parser(commands)
    uploads.add_parser(commands)
    run.add_parser(commands)
    jobs.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        log_file = setup_logging(args.log_level, args.log_file)
    except ValueError as exc:
        error(str(exc))
        return 2
    try:
        return int(args.run(args))
    except CommandFailed as exc:
        error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        print("reeldrop: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the CLI's excepthook: one line for the user, the traceback in the log
        log.exception("reeldrop %s failed", args.command)
        where = f" (details in {log_file})" if log_file else ""
        error(f"unexpected {type(exc).__name__}: {exc}{where}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
