"""`reeldrop`: the headless front end over app.core (login, logout, upload, uploads, run, jobs, download).

This module only parses arguments, sets up logging and dispatches; each command lives in app/commands/.
`--version`, `--help` and a bare `reeldrop` are answered from this module alone: the commands import the
transfer engine, the pipeline and requests (0.47 s of CPU), which saying the version does not need.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from app import __version__

log = logging.getLogger("app.cli")

EXIT_INTERRUPTED = 130
LOG_ENV = "REELDROP_LOG"  # (app.commands.common reads it; named here so --help needs no import)

# Each command and its line in `reeldrop --help`; the command's own parser (app/commands/) says the same
# (tests/e2e/test_cli_startup.py holds them to it).
COMMAND_HELP = {
    "login": "sign in to a ReelDrop server; the token goes to the keyring",
    "logout": "revoke the token and delete it from the keyring",
    "upload": "upload files to S3 through the ReelDrop backend",
    "uploads": "list the uploads the journal holds",
    "run": "compress, upload and process files, then download the results",
    "jobs": "list your processing jobs, newest first",
    "download": "download and unpack a finished job's results",
}


def _top_parser(full: bool) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(prog="reeldrop", description="Upload videos to S3 through a ReelDrop server.")
    parser.add_argument("--version", action="version", version=f"reeldrop {__version__}")
    parser.add_argument(
        "--log-level", metavar="LEVEL", help=f"debug, info, warning, error (default: ${LOG_ENV} or info)"
    )
    parser.add_argument("--log-file", metavar="PATH", help="write the log here instead of the app's log folder")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    if not full:
        # Names and help lines only; whatever follows a command is that command's to parse.
        for name, text in COMMAND_HELP.items():
            commands.add_parser(name, help=text, add_help=False).add_argument("rest", nargs=argparse.REMAINDER)
    return parser, commands


def build_parser() -> argparse.ArgumentParser:
    from app.commands import auth, jobs, run, upload, uploads

    parser, commands = _top_parser(full=True)
    auth.add_parsers(commands)
    upload.add_parser(commands)
    uploads.add_parser(commands)
    run.add_parser(commands)
    jobs.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    light, _ = _top_parser(full=False)
    # --version and --help end here, importing nothing more; anything this light parser cannot place (a
    # command's own options, a bad option) is left to the full one below, which knows them all.
    first, unknown = light.parse_known_args(argv)
    if first.command is None and not unknown:
        light.print_help()
        return 2
    from app.commands.common import CommandFailed, error, setup_logging

    parser = build_parser()
    args = parser.parse_args(argv)
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
