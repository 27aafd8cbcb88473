"""The installer inputs that cannot be built here are at least checked: desktop entry, AppStream
metadata, icons, shell scripts, the Inno Setup script and the CI workflow."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from app import __version__

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
RESOURCES = ROOT / "resources"
DESKTOP = RESOURCES / "reeldrop.desktop"
METAINFO = RESOURCES / "org.reeldrop.ReelDrop.metainfo.xml"
ISS = PACKAGING / "windows" / "reeldrop.iss"
WORKFLOW = ROOT / ".github" / "workflows" / "build.yml"
GUI_EXECUTABLE = "reeldrop-gui"  # EXE name in packaging/reeldrop.spec


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def test_desktop_entry_starts_the_gui_with_our_icon() -> None:
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == GUI_EXECUTABLE  # install.sh makes it absolute
    assert entry["Icon"] == "reeldrop"
    assert (RESOURCES / "icons" / "reeldrop.svg").is_file()
    # Qt names the window after QApplication.setDesktopFileName("reeldrop"): the file must match.
    assert DESKTOP.name == "reeldrop.desktop"


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_entry_validates() -> None:
    done = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_metainfo_names_the_current_version_and_the_desktop_entry() -> None:
    component = ET.parse(METAINFO).getroot()
    assert component.findtext("id") == METAINFO.name.removesuffix(".metainfo.xml")
    newest = component.find("releases/release")
    assert newest is not None and newest.get("version") == __version__, "add a <release> for the new version"
    assert component.findtext("launchable") == DESKTOP.name
    assert {b.text for b in component.findall("provides/binary")} == {"reeldrop", GUI_EXECUTABLE}


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream not installed")
def test_metainfo_validates() -> None:
    done = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(METAINFO)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("size", [16, 24, 32, 48, 64, 128, 256, 512])
def test_png_icons_have_the_size_in_their_name(size: int) -> None:
    data = (RESOURCES / "icons" / f"reeldrop-{size}.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    assert (width, height) == (size, size)


def test_windows_and_macos_icons_exist() -> None:
    assert (RESOURCES / "icons" / "reeldrop.ico").read_bytes()[:4] == b"\x00\x00\x01\x00"
    assert (RESOURCES / "icons" / "reeldrop.icns").read_bytes()[:4] == b"icns"


SHELL_SCRIPTS = sorted(PACKAGING.rglob("*.sh"))


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shell_scripts_parse_and_are_executable(script: Path) -> None:
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert os.access(script, os.X_OK)


def test_posix_wrapper_parses() -> None:
    wrapper = PACKAGING / "linux" / "reeldrop-server"
    done = subprocess.run(["sh", "-n", str(wrapper)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert os.access(wrapper, os.X_OK)


def test_inno_setup_script_takes_the_version_from_the_app() -> None:
    # Inno Setup cannot run here; this checks what it would read. The version is not written in the .iss:
    # CI passes /DAppVersion (from app/__init__.py), else it comes from the built exe's version resource.
    text = ISS.read_text()
    assert "#ifndef AppVersion" in text
    assert re.search(r'GetStringFileInfo\(DistDir \+ "\\" \+ AppExe, "ProductVersion"\)', text)
    assert f'#define AppExe "{GUI_EXECUTABLE}.exe"' in text
    assert "AppVersion={#AppVersion}" in text
    assert __version__ not in text  # no second copy of the version to forget
    assert re.search(r"AppId=\{\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}", text)
    assert r'"\dist\reeldrop"' in text  # COLLECT(name="reeldrop") in the spec
    assert (PACKAGING / "windows" / "reeldrop-server.cmd").is_file()


def test_ci_workflow_builds_on_three_systems() -> None:
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    assert {job["runs-on"].split("-")[0] for job in jobs.values()} == {"ubuntu", "windows", "macos"}
    for name, job in jobs.items():
        uses = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
        assert uses["actions/setup-python"]["with"]["python-version"] == "3.11", name
        assert "actions/upload-artifact" in uses, name
    scripts = {name: "\n".join(step.get("run", "") for step in job["steps"]) for name, job in jobs.items()}
    assert "bash packaging/linux/build.sh" in scripts["linux"]
    assert "bash packaging/linux/smoke_test.sh" in scripts["linux"]
    assert "packaging/reeldrop.spec" in scripts["windows"] and "/DAppVersion=" in scripts["windows"]
    assert "packaging\\windows\\reeldrop.iss" in scripts["windows"]
    assert "bash packaging/macos/make_dmg.sh" in scripts["macos"]
