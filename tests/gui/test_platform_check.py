"""A missing system library is a sentence, not an abort (issue 12, item 7)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.gui.platform_check import MissingLibraries, missing_for_xcb, xcb_plugin, xcb_will_be_used

ROOT = Path(__file__).resolve().parents[2]
CURSOR_LIB = "libxcb-cursor.so.0"


def _real_file_of(soname: str) -> Path | None:
    for folder in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"):
        candidate = Path(folder) / soname
        if candidate.exists():
            return candidate.resolve()
    return None


def _can_hide_files() -> bool:
    return (
        sys.platform.startswith("linux")
        and os.geteuid() == 0
        and shutil.which("unshare") is not None
        and subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=10).returncode == 0
    )


@pytest.mark.skipif(not _can_hide_files(), reason="needs root and mount namespaces to hide a library")
@pytest.mark.skipif(_real_file_of(CURSOR_LIB) is None, reason=f"{CURSOR_LIB} is not installed here")
def test_the_app_without_libxcb_cursor_says_what_to_install(tmp_path):
    """The real app, in a mount namespace where libxcb-cursor0 is unreadable (as on a fresh Ubuntu)."""
    hidden = _real_file_of(CURSOR_LIB)
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env |= {"DISPLAY": ":199", "REELDROP_HOME": str(tmp_path)}  # no X server needed: it must stop before
    script = f'mount --bind /dev/null "{hidden}" && exec "{sys.executable}" -m app'
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], env=env, cwd=ROOT, capture_output=True, timeout=60)

    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr  # not Qt's abort (134) nor a core dump
    assert "sudo apt install libxcb-cursor0" in stderr
    assert "sudo dnf install xcb-util-cursor" in stderr
    assert "could not load the Qt platform plugin" not in stderr  # stopped before Qt tried
    assert not (tmp_path / "log").exists()  # and before anything was written


@pytest.mark.skipif(xcb_plugin() is None, reason="PySide6 without its xcb plugin")
def test_with_every_library_installed_nothing_is_missing():
    assert missing_for_xcb() is None


def test_an_unloadable_plugin_is_reported_with_the_loaders_words(tmp_path):
    broken = tmp_path / "libqxcb.so"
    broken.write_bytes(b"not an ELF file")
    problem = missing_for_xcb(broken)
    assert problem is not None
    assert problem.libraries == ()
    assert "The system's loader said:" in problem.sentence()


def test_the_sentence_names_both_families_packages_once():
    problem = MissingLibraries(
        Path("/x/libqxcb.so"), ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-shape.so.0"), ""
    )
    sentence = problem.sentence()
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-shape0" in sentence
    assert "sudo dnf install libxcb xcb-util-cursor xcb-util-wm" in sentence


@pytest.mark.parametrize(
    ("environ", "used"),
    [
        ({}, True),
        ({"QT_QPA_PLATFORM": "xcb"}, True),
        ({"QT_QPA_PLATFORM": "offscreen"}, False),
        ({"QT_QPA_PLATFORM": "wayland;xcb"}, False),
        ({"WAYLAND_DISPLAY": "wayland-0"}, False),
        ({"WAYLAND_DISPLAY": "wayland-0", "QT_QPA_PLATFORM": "xcb"}, True),
    ],
)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="xcb is Linux's")
def test_the_check_runs_only_where_qt_would_use_xcb(environ, used):
    assert xcb_will_be_used(environ) is used
