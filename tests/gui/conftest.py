"""GUI tests: pytest-qt on Qt's offscreen platform, each test with its own REELDROP_HOME."""

from __future__ import annotations

import os

# Before the QApplication exists (pytest-qt makes it on first use): no display needed, nothing flashes up.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core import paths
from app.core.paths import AppPaths
from app.gui.bridge import Bridge


@pytest.fixture(autouse=True)
def reeldrop_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppPaths:
    """Every GUI test writes under its own folder, never the real user profile."""
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "home"))
    return paths.app_paths().ensure()


@pytest.fixture
def bridge(qapp: object) -> Iterator[Bridge]:
    made = Bridge()
    yield made
    made.close()
