"""`reeldrop --version`, `--help` and a bare `reeldrop` import only the CLI's own module (issue 19, item 2):
which modules they load is asserted, not how long they take."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from app.cli import COMMAND_HELP, build_parser

HEAVY = ("requests", "tqdm", "app.commands", "app.core.transfer", "app.core.pipeline", "app.core.results",
         "app.core.media", "app.connect", "PySide6", "fastapi", "boto3", "botocore", "ffmpeg", "keyring",
         "sqlalchemy")  # fmt: skip

PROBE = """
import json, sys
from app.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def loaded_by(*argv: str) -> tuple[int, str, set[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60)
    *shown, last = done.stdout.strip().splitlines()
    answer = json.loads(last)
    return answer["code"], "\n".join(shown), set(answer["modules"])


@pytest.mark.parametrize("argv", [("--version",), ("--help",), ()])
def test_saying_the_version_or_the_help_imports_nothing_heavy(argv: tuple[str, ...]) -> None:
    code, shown, modules = loaded_by(*argv)
    assert code in (0, 2) and ("reeldrop 0." in shown or "COMMAND" in shown), shown
    heavy = sorted(m for m in modules if m.startswith(HEAVY))
    assert heavy == [], f"reeldrop {' '.join(argv)} imported {heavy[:10]}"


def test_a_command_still_gets_its_own_parser() -> None:
    code, shown, modules = loaded_by("upload", "--help")
    assert code == 0 and "--concurrency" in shown and "app.commands.upload" in modules


def test_the_help_lines_are_the_commands_own() -> None:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    own = {choice.dest: choice.help for choice in commands._choices_actions}
    assert own == COMMAND_HELP


def test_a_bad_top_level_option_is_still_refused() -> None:
    done = subprocess.run([sys.executable, "-m", "app.cli", "--bogus"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "unrecognized arguments: --bogus" in done.stderr
