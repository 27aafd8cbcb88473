"""The frozen executables' entry scripts, run unfrozen: the CLI's `server` dispatch and the GUI's smoke hook."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import __version__

ROOT = Path(__file__).resolve().parents[2]
ENTRY = ROOT / "packaging" / "entry"


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELDROP_")}
    env.update(REELDROP_HOME=str(home), PYTHONPATH=str(ROOT), **extra)
    return env


def _run(args: list[str], home: Path, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=_env(home, **extra)
    )


def test_cli_entry_is_the_cli(tmp_path: Path) -> None:
    done = _run([str(ENTRY / "reeldrop_cli.py"), "--version"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"reeldrop {__version__}"


def test_cli_entry_runs_the_server_cli_for_the_server_command(tmp_path: Path) -> None:
    done = _run([str(ENTRY / "reeldrop_cli.py"), "server", "--version"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"reeldrop-server {__version__}"
    bad = _run([str(ENTRY / "reeldrop_cli.py"), "server", "no-such-command"], tmp_path)
    assert bad.returncode == 2 and "reeldrop-server" in bad.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("PySide6") is None or not (ROOT / "app" / "gui" / "main.py").exists(),
    reason="needs PySide6 and app/gui/main.py",
)
def test_gui_smoke_hook_quits_cleanly_once_connected(tmp_path: Path) -> None:
    # The built-in backend starts inside the GUI process; the hook quits through Qt's event loop.
    done = _run(
        [str(ENTRY / "reeldrop_gui.py")], tmp_path, timeout=240, QT_QPA_PLATFORM="offscreen", REELDROP_SMOKE_TEST="180"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "connected to its backend" in done.stderr
    assert "Traceback" not in done.stderr
    log = (tmp_path / "log" / "reeldrop.log").read_text()
    assert f"ReelDrop {__version__} starting" in log and "Quitting" in log
