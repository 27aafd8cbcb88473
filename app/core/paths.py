"""Where ReelDrop keeps its files: per-user platform folders, or one folder for tests and development.

Nothing here touches the disk until `ensure()` is called, so importing the module (or building an
`AppPaths`) never creates a folder. `REELDROP_HOME` puts every folder under one directory, which is
how tests and side-by-side development copies stay out of the real user profile.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "ReelDrop"
HOME_ENV = "REELDROP_HOME"
SETTINGS_FILENAME = "settings.json"


@dataclass(frozen=True)
class AppPaths:
    """The four per-user folders the app writes to."""

    data: Path
    cache: Path
    config: Path
    log: Path

    @property
    def settings_file(self) -> Path:
        return self.config / SETTINGS_FILENAME

    def all(self) -> tuple[Path, ...]:
        return (self.data, self.cache, self.config, self.log)

    def ensure(self) -> AppPaths:
        """Create the folders that do not exist yet; returns self for chaining."""
        for folder in self.all():
            folder.mkdir(parents=True, exist_ok=True)
        return self


def _home_override(environ: Mapping[str, str]) -> Path | None:
    value = environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser().absolute() if value else None


def app_paths(environ: Mapping[str, str] | None = None) -> AppPaths:
    """Resolve the folders now (the environment is read at call time, not import time)."""
    home = _home_override(os.environ if environ is None else environ)
    if home is not None:
        return AppPaths(data=home / "data", cache=home / "cache", config=home / "config", log=home / "log")
    # appauthor=False: on Windows this gives ...\ReelDrop rather than ...\ReelDrop\ReelDrop.
    dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
    return AppPaths(
        data=dirs.user_data_path,
        cache=dirs.user_cache_path,
        config=dirs.user_config_path,
        log=dirs.user_log_path,
    )


def ensure(environ: Mapping[str, str] | None = None) -> AppPaths:
    """Resolve the folders and create them; call this from `main()`, never at import."""
    return app_paths(environ).ensure()


def default_output_folder(environ: Mapping[str, str] | None = None) -> Path:
    """Where results go unless the user picks a folder: the Videos folder, or REELDROP_HOME/output."""
    home = _home_override(os.environ if environ is None else environ)
    if home is not None:
        return home / "output"
    return platformdirs.user_videos_path() / APP_NAME
