"""`python -m app` (and the `reeldrop-app` command) opens the ReelDrop desktop app."""

from __future__ import annotations

from app.gui.platform_check import exit_if_window_cannot_open


def main() -> int:
    exit_if_window_cannot_open()  # before Qt is imported: a missing libxcb-cursor0 is a sentence, not an abort
    from app.gui.main import main as run_app

    return run_app()


if __name__ == "__main__":
    raise SystemExit(main())
