"""Show PyInstaller's analysis where `app.resources` lives.

pyproject.toml maps the package `app.resources` to the top-level resources/ folder. An installed copy
has it at app/resources, but the analysis reads the source tree, where app/ has no resources/ in it:
adding the repository root to `app`'s search path makes `app.resources` resolve to resources/.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PyInstaller.depend.imphookapi import PreSafeImportModuleAPI

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]


def pre_safe_import_module(api: PreSafeImportModuleAPI) -> None:
    api.append_package_path(str(REPOSITORY_ROOT))
