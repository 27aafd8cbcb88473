"""`python -m app` (and the `reeldrop-app` command) opens the ReelDrop desktop app."""

from __future__ import annotations

import importlib.util
import sys

from app.gui.platform_check import exit_if_window_cannot_open

APP_MISSING = "reeldrop-app: the desktop app is not installed (PySide6 is missing): pip install 'reeldrop[app]'"


def main() -> int:
    if importlib.util.find_spec("PySide6") is None:  # `pip install reeldrop` is the command line alone
        print(APP_MISSING, file=sys.stderr)
        return 1
    exit_if_window_cannot_open()  # before Qt is imported: a missing libxcb-cursor0 is a sentence, not an abort
    from app.gui.main import main as run_app

    return run_app()


if __name__ == "__main__":
    raise SystemExit(main())
