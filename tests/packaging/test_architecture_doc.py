"""docs/ARCHITECTURE.md stays true to the code: every file, folder and glob it names exists, and its table of
who may import whom says what the import-linter contracts in pyproject.toml enforce."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
# `core/pipeline/store.py`, `app/gui/inbox.py`, `tests/server`, `tests/e2e/test_pipeline*.py`, `bench/`
FAMILIES = "app|core|server|gui|routes|worker|media|transfer|pipeline|results|tests|bench|tools|packaging|docs"
NAMED = re.compile(rf"`((?:{FAMILIES})/[\w/.*-]*|[\w-]+\.py)`")
SHORT = ("core/", "server/", "gui/", "commands/")  # written without the leading app/


def candidates(name: str) -> list[Path]:
    if name.startswith(SHORT):
        return [ROOT / "app" / name]
    if "/" not in name:  # a bare module name: somewhere under app/
        return list((ROOT / "app").rglob(name))
    return [ROOT / name, ROOT / "app" / name, ROOT / "app" / "core" / name, ROOT / "app" / "server" / name]


def test_every_path_the_page_names_exists() -> None:
    named = sorted(set(NAMED.findall(PAGE)))
    assert len(named) > 40
    missing = []
    for name in named:
        found = [hit for path in candidates(name) for hit in (path.parent.glob(path.name) if "*" in name else [path])]
        if not any(path.exists() for path in found):
            missing.append(name)
    assert missing == [], f"docs/ARCHITECTURE.md names what is not there: {missing}"


def test_the_import_table_matches_the_contracts() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    forbidden = {source: set(c["forbidden_modules"]) for c in contracts for source in c["source_modules"]}
    assert {"app.gui", "app.server", "app.commands", "app.cli"} <= forbidden["app.core"]
    assert "| **core** | yes | no | no | no | no |" in PAGE
    assert {"app.gui", "app.commands", "app.cli"} <= forbidden["app.server"]
    assert "| **server** | yes | yes | no | no | no |" in PAGE
    assert "app.gui" in forbidden["app.commands"] and "app.gui" in forbidden["app.cli"]
    assert {"app.server", "app.commands"} <= forbidden["app.gui"]


def test_the_code_names_the_older_apis_by_what_they_are() -> None:
    """Comments once cited "seed 003" and the like: documents that are not in the repository. The README's
    Compatibility section gives each its name; the code uses those names."""
    cited = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "app").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bseeds? ?0\d\d|\bseeds'", line, re.IGNORECASE)
    ]
    assert cited == []
    readme = (ROOT / "README.md").read_text()
    names = ("Lambda batch API", "transcript API", "renditions-bucket layout", "browser-upload API", "form-upload API")
    for name in names:
        assert f"**the {name}**" in readme
