"""`python -m app` opens the ReelDrop desktop app."""

from __future__ import annotations

from app.gui.main import main

if __name__ == "__main__":
    raise SystemExit(main())
