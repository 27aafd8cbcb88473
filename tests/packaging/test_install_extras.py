"""Issue 16 item 7: install what you use. `pip install reeldrop` is the command line; the server, the desktop
app and the production drivers are extras; the layers import each other only as the contracts in
pyproject.toml allow, and a missing extra is one sentence naming the command that installs it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from app.server.installed import SERVER_PACKAGES

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]
# The distribution that ships each module the server imports.
DISTRIBUTION = {"zipstream": "zipstream-ng", "pydantic_settings": "pydantic-settings"}


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower() for requirement in requirements}


def test_the_command_line_install_pulls_neither_qt_nor_the_server() -> None:
    base = names(PROJECT["dependencies"])
    heavy = {"pyside6-essentials", "pyside6", "fastapi", "uvicorn", "sqlalchemy", "huey", "boto3", "moto", "pydantic"}
    assert base & heavy == set()
    assert {"requests", "keyring", "tenacity", "tqdm"} <= base


def test_each_extra_brings_what_its_part_imports() -> None:
    server = names(EXTRAS["server"])
    assert {DISTRIBUTION.get(module, module) for module in SERVER_PACKAGES} <= server
    assert "pyside6-essentials" in names(EXTRAS["app"]) and "reeldrop[server]" in EXTRAS["app"]  # This computer
    assert "reeldrop[server]" in EXTRAS["prod"] and {"psycopg", "redis"} <= names(EXTRAS["prod"])
    assert "reeldrop[app]" in EXTRAS["test"] and "import-linter" in names(EXTRAS["test"])


def hiding(modules: tuple[str, ...], call: str) -> subprocess.CompletedProcess[str]:
    """Run `call` in a fresh interpreter where ``modules`` cannot be imported, as if never installed."""
    script = f"import sys\nfor name in {modules!r}:\n    sys.modules[name] = None\n{call}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELDROP_")}
    env["REELDROP_HOME"] = str(Path(os.environ.get("TMPDIR", "/tmp")) / f"reeldrop-extras-{os.getpid()}")
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=False
    )


def test_this_computer_without_the_server_extra_says_how_to_install_it(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0" * 1024)
    ran = hiding(("fastapi", "sqlalchemy"), f"from app.cli import main\nsys.exit(main(['upload', {str(clip)!r}]))")
    assert ran.returncode == 1, ran.stderr
    assert "(fastapi, sqlalchemy are missing)" in ran.stderr and "pip install 'reeldrop[server]'" in ran.stderr
    assert "--server URL" in ran.stderr and "Traceback" not in ran.stderr


def test_the_server_command_without_its_extra_says_how_to_install_it() -> None:
    ran = hiding(("uvicorn",), "from app.server.cli import main\nsys.exit(main(['serve']))")
    assert ran.returncode == 1 and "Traceback" not in ran.stderr
    assert "The ReelDrop server is not installed (uvicorn is missing)" in ran.stderr
    assert "pip install 'reeldrop[server]'" in ran.stderr


def test_the_app_without_its_extra_says_how_to_install_it() -> None:
    ran = hiding(("PySide6",), "from app.__main__ import main\nsys.exit(main())")
    assert ran.returncode == 1 and "Traceback" not in ran.stderr
    assert "pip install 'reeldrop[app]'" in ran.stderr


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    linter = shutil.which("lint-imports") or pytest.fail("import-linter (the test extra) is not installed")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [linter, "--no-cache"], capture_output=True, text=True, cwd=root, env=env, timeout=120, check=False
    )


def test_the_import_contracts_hold_and_catch_a_core_module_importing_qt(tmp_path: Path) -> None:
    assert lint_imports(ROOT).returncode == 0
    copy = tmp_path / "tree"
    shutil.copytree(ROOT / "app", copy / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy)
    with (copy / "app" / "core" / "paths.py").open("a") as module:
        module.write("\nfrom PySide6 import QtCore  # noqa\n")
    broken = lint_imports(copy)
    assert broken.returncode == 1
    assert "the core is Qt-free" in broken.stdout and "app.core.paths -> PySide6" in broken.stdout
