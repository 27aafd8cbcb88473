"""The package list in pyproject.toml, the Qt-free core, and the README's commands."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "app").rglob("__init__.py")} | {
        "app.resources"
    }
    assert on_disk == listed


def test_core_and_cli_never_import_qt() -> None:
    code = (
        "import sys, importlib, pkgutil, app.core\n"
        "for m in pkgutil.walk_packages(app.core.__path__, 'app.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "import app.server.app\n"
        "try:\n    import app.cli\nexcept ModuleNotFoundError:\n    pass\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    blocks = readme.split("```bash\n")[1:3]
    install_run, install_test = (block.split("\n```")[0].strip() for block in blocks)
    assert install_run.startswith("python3 -m venv") and "pip install" in install_run
    assert "pytest" in install_test or "tools/test.sh" in install_test
    assert install_test in ci.splitlines()
