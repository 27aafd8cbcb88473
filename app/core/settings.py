"""The user's settings: one validated, immutable object saved as JSON in the config folder.

Loading never fails: a missing file gives the defaults, an unreadable or corrupt one is moved aside
to `settings.json.bak`, and a partly valid one keeps its good fields (bad ones fall back to their
defaults, each with a warning that names the file and the cause). Saving is atomic (temp file +
os.replace), so a crash mid-save leaves the previous file intact. Secrets never live here: tokens are
in the keyring (see credentials.py), and keys such as "token" or "password" are dropped on load.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.core import paths

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
EMBEDDED_PROFILE_NAME = "This computer"
MAX_CONCURRENCY = 32
MIN_BANDWIDTH_BYTES_PER_S = 1024
MIN_PART_SIZE_MIB, MAX_PART_SIZE_MIB = 5, 5 * 1024  # S3 multipart limits: 5 MiB .. 5 GiB
MAX_RETENTION_DAYS = 3650  # ten years; 0 keeps results until "Free space"
_MAX_FILE_BYTES = 1024 * 1024  # a settings file is a few hundred bytes; anything this big is not ours
_SECRET_KEYS = frozenset({"token", "access_token", "refresh_token", "password", "secret", "api_key"})


class SettingsError(ValueError):
    """Invalid settings values, or a settings file that could not be written."""


def _check_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"profile name must be non-empty text, got {value!r}")
    name = value.strip()
    if len(name) > 64 or any(ord(ch) < 32 for ch in name):
        raise SettingsError(f"profile name must be at most 64 printable characters, got {value!r}")
    return name


def check_server_url(value: Any) -> str:
    """Normalise a server URL (no trailing slash) or raise SettingsError saying what is wrong."""
    if not isinstance(value, str):
        raise SettingsError(f"server URL must be text, got {value!r}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            "server URL must start with http:// or https:// and name a host, like https://reeldrop.example.com "
            f"or http://localhost:8000; got {value!r}"
        )
    if parts.username or parts.password:
        # Never let a password ride along in a settings file.
        raise SettingsError("server URL must not contain a user name or password; sign in instead")
    if parts.query or parts.fragment:
        raise SettingsError(f"server URL must not have a ?query or #fragment, got {value!r}")
    return value.strip().rstrip("/")


ALLOW_HTTP_ENV = "REELDROP_ALLOW_HTTP"


def plain_http_warning(url: str) -> str | None:
    """Why an http:// URL of another machine is a risk, or None for https:// and this computer's own
    addresses (localhost, 127.0.0.0/8, ::1), where nothing crosses a network."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        return None
    host = parts.hostname
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        if host == "localhost" or host.endswith(".localhost"):
            return None
    return (
        f"{url} is plain http://: your password, your sign-in token and your videos would cross the network "
        "unencrypted, readable and changeable by anyone on the way"
    )


@dataclass(frozen=True)
class Profile:
    """A backend to talk to. `server_url` None means the embedded backend on this computer."""

    name: str
    server_url: str | None = None
    username: str = ""
    # The user was told that this server's http:// is unencrypted and chose to use it anyway: asked once.
    allow_plain_http: bool = False

    @property
    def embedded(self) -> bool:
        return self.server_url is None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _check_name(self.name))
        if self.server_url is not None:
            object.__setattr__(self, "server_url", check_server_url(self.server_url))
        if not isinstance(self.username, str) or len(self.username) > 256:
            raise SettingsError(f"profile {self.name!r}: username must be text of at most 256 characters")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "server_url": self.server_url, "username": self.username}
        if self.allow_plain_http:
            data["allow_plain_http"] = True
        return data


BUILTIN_PROFILE = Profile(EMBEDDED_PROFILE_NAME)


def _int_in(name: str, low: int, high: int | None) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        # bool is an int in Python; `true` in JSON is not a concurrency.
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{name} must be a whole number, got {value!r}")
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise SettingsError(f"{name} must be {bounds}, got {value}")
        return value

    return check


def _optional(check: Callable[[Any], Any], none_words: tuple[str, ...]) -> Callable[[Any], Any]:
    def optional(value: Any) -> Any:
        return None if value is None or value in none_words else check(value)

    return optional


def _flag(name: str) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise SettingsError(f"{name} must be true or false, got {value!r}")
        return value

    return check


def _preset(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise SettingsError(f"default_preset must be a preset name (1-64 characters), got {value!r}")
    return value.strip()


def _folder(value: Any) -> Path:
    if isinstance(value, Path):
        return value.expanduser()
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"output_folder must be a folder path, got {value!r}")
    return Path(value.strip()).expanduser()


def _profiles(value: Any) -> tuple[Profile, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(p, Profile) for p in value):
        raise SettingsError("profiles must be a list of Profile objects")
    names = [p.name for p in value]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SettingsError(f"profile names must be unique; repeated: {', '.join(duplicates)}")
    builtin = next((p for p in value if p.name == EMBEDDED_PROFILE_NAME), None)
    if builtin is not None and not builtin.embedded:
        raise SettingsError(f"the built-in profile {EMBEDDED_PROFILE_NAME!r} cannot point to a server")
    # The embedded profile is always offered, first in the list.
    return (builtin or BUILTIN_PROFILE, *(p for p in value if p.name != EMBEDDED_PROFILE_NAME))


_FIELD_CHECKS: dict[str, Callable[[Any], Any]] = {
    "profiles": _profiles,
    "active_profile": _check_name,
    "default_preset": _preset,
    "output_folder": _folder,
    "concurrency": _int_in("concurrency", 1, MAX_CONCURRENCY),
    "bandwidth_limit": _optional(_int_in("bandwidth_limit (bytes/s)", MIN_BANDWIDTH_BYTES_PER_S, None), ()),
    "part_size_mib": _optional(_int_in("part_size_mib", MIN_PART_SIZE_MIB, MAX_PART_SIZE_MIB), ("auto",)),
    "hardware_encoder": _flag("hardware_encoder"),
    "start_on_add": _flag("start_on_add"),
    "upload_while_compressing": _flag("upload_while_compressing"),
    "notifications": _flag("notifications"),
    "ask_before_quitting": _flag("ask_before_quitting"),
    "results_retention_days": _int_in("results_retention_days", 0, MAX_RETENTION_DAYS),
}


@dataclass(frozen=True)
class Settings:
    """All user settings. Construction validates; change with `with_changes(...)`."""

    profiles: tuple[Profile, ...] = (BUILTIN_PROFILE,)
    active_profile: str = EMBEDDED_PROFILE_NAME
    default_preset: str = "1080p"
    output_folder: Path = field(default_factory=paths.default_output_folder)
    concurrency: int = 4
    bandwidth_limit: int | None = None  # bytes per second; None = unlimited
    part_size_mib: int | None = None  # None = choose automatically from the file size
    hardware_encoder: bool = False
    start_on_add: bool = True
    notifications: bool = True
    upload_while_compressing: bool = True  # send parts of a fragmented MP4 while ffmpeg still writes it
    ask_before_quitting: bool = True  # quitting with files at work asks first (the question's "Don't ask again")
    # How long the built-in server ("This computer") keeps a finished job's files; 0 = until "Free space".
    results_retention_days: int = 30

    def __post_init__(self) -> None:
        problems = []
        for name, check in _FIELD_CHECKS.items():
            try:
                object.__setattr__(self, name, check(getattr(self, name)))
            except SettingsError as exc:
                problems.append(str(exc))
        if not problems and self.active_profile not in {p.name for p in self.profiles}:
            problems.append(f"active_profile {self.active_profile!r} is not one of the profiles")
        if problems:
            raise SettingsError("; ".join(problems))

    def active(self) -> Profile:
        return next(p for p in self.profiles if p.name == self.active_profile)

    def profile(self, name: str) -> Profile | None:
        return next((p for p in self.profiles if p.name == name), None)

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some fields changed; raises SettingsError naming every bad value."""
        return dataclasses.replace(self, **changes)

    def with_profile(self, profile: Profile) -> Settings:
        """Add a profile, or replace the one with the same name."""
        others = [p for p in self.profiles if p.name != profile.name]
        return self.with_changes(profiles=(*others, profile))

    def without_profile(self, name: str) -> Settings:
        if name == EMBEDDED_PROFILE_NAME:
            raise SettingsError(f"the built-in profile {EMBEDDED_PROFILE_NAME!r} cannot be removed")
        active = EMBEDDED_PROFILE_NAME if name == self.active_profile else self.active_profile
        return self.with_changes(profiles=tuple(p for p in self.profiles if p.name != name), active_profile=active)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": SCHEMA_VERSION,
            "profiles": [p.to_dict() for p in self.profiles],
            "active_profile": self.active_profile,
            "default_preset": self.default_preset,
            "output_folder": str(self.output_folder),
            "concurrency": self.concurrency,
            "bandwidth_limit": self.bandwidth_limit,
            "part_size_mib": "auto" if self.part_size_mib is None else self.part_size_mib,
            "hardware_encoder": self.hardware_encoder,
            "start_on_add": self.start_on_add,
            "notifications": self.notifications,
            "upload_while_compressing": self.upload_while_compressing,
            "ask_before_quitting": self.ask_before_quitting,
            "results_retention_days": self.results_retention_days,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> tuple[Settings, list[str]]:
        """Build settings from parsed JSON, keeping defaults for bad fields; returns the problems found."""
        problems: list[str] = []
        values: dict[str, Any] = {}
        for key, raw in data.items():
            if key == "version":
                if raw != SCHEMA_VERSION:
                    problems.append(f"unknown settings version {raw!r}; reading what can be understood")
            elif key.lower() in _SECRET_KEYS:
                problems.append(f"ignored {key!r}: secrets are kept in the keyring, never in settings")
            elif key == "profiles":
                values[key] = _profiles_from_json(raw, problems)
            elif key in _FIELD_CHECKS:
                try:
                    values[key] = _FIELD_CHECKS[key](raw)
                except SettingsError as exc:
                    problems.append(f"{exc}; using the default")
            else:
                problems.append(f"ignored unknown setting {key!r}")
        names = {p.name for p in values.get("profiles", (BUILTIN_PROFILE,))}
        active = values.get("active_profile", EMBEDDED_PROFILE_NAME)
        if active not in names:
            problems.append(f"active_profile {active!r} is not one of the profiles; using {EMBEDDED_PROFILE_NAME!r}")
            del values["active_profile"]
        return cls(**values), problems


def _profiles_from_json(raw: Any, problems: list[str]) -> tuple[Profile, ...]:
    if not isinstance(raw, list):
        problems.append(f"profiles must be a list, got {type(raw).__name__}; using the default")
        return (BUILTIN_PROFILE,)
    kept: dict[str, Profile] = {}
    for index, item in enumerate(raw):
        try:
            if not isinstance(item, dict):
                raise SettingsError(f"expected an object, got {item!r}")
            profile = Profile(
                item.get("name", ""),
                item.get("server_url"),
                item.get("username") or "",
                allow_plain_http=item.get("allow_plain_http") is True,
            )
            if profile.name == EMBEDDED_PROFILE_NAME and not profile.embedded:
                raise SettingsError(f"the built-in profile {EMBEDDED_PROFILE_NAME!r} cannot point to a server")
            if profile.name in kept:
                raise SettingsError(f"another profile is already named {profile.name!r}")
        except SettingsError as exc:
            problems.append(f"profiles[{index}] dropped: {exc}")
            continue
        kept[profile.name] = profile
    return _profiles(list(kept.values()))


@dataclass(frozen=True)
class SettingsLoad:
    """What `read_settings` found: the settings to use, the problems, and where a bad file was kept."""

    settings: Settings
    problems: tuple[str, ...] = ()
    backup: Path | None = None


def read_settings(path: Path | None = None) -> SettingsLoad:
    """Load settings from `path` (default: the config folder); never raises for bad file content."""
    path = path or paths.app_paths().settings_file
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise ValueError(f"the file is larger than {_MAX_FILE_BYTES} bytes")
        data = json.loads(path.read_bytes().decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, found {type(data).__name__}")
    except FileNotFoundError:
        log.info("No settings file at %s yet; using defaults", path)
        return SettingsLoad(Settings())
    except OSError as exc:
        log.warning("Could not read settings file %s (%s); using defaults", path, exc.strerror or exc)
        return SettingsLoad(Settings(), (f"could not read: {exc}",))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        backup = _keep_backup(path, move=True)
        log.warning("Settings file %s is not valid (%s); using defaults, kept it as %s", path, exc, backup)
        return SettingsLoad(Settings(), (f"not valid settings: {exc}",), backup)
    settings, problems = Settings.from_dict(data)
    backup = None
    if problems:
        backup = _keep_backup(path, move=False)
        for problem in problems:
            log.warning("Settings file %s: %s", path, problem)
    return SettingsLoad(settings, tuple(problems), backup)


def load_settings(path: Path | None = None) -> Settings:
    return read_settings(path).settings


def _keep_backup(path: Path, *, move: bool) -> Path | None:
    backup = path.with_name(path.name + ".bak")
    try:
        if move:
            os.replace(path, backup)
        else:
            shutil.copy2(path, backup)
    except OSError as exc:
        log.warning("Could not keep a copy of %s as %s: %s", path, backup, exc)
        return None
    return backup


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write settings atomically: readers see the old file or the new one, never half of one."""
    path = path or paths.app_paths().settings_file
    text = json.dumps(settings.to_dict(), indent=2, ensure_ascii=False) + "\n"
    temp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
        ) as handle:
            temp_name = handle.name
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
        temp_name = None
    except OSError as exc:
        raise SettingsError(f"Could not save settings to {path}: {exc.strerror or exc}") from exc
    finally:
        if temp_name is not None:
            Path(temp_name).unlink(missing_ok=True)
    log.debug("Saved settings to %s", path)
    return path
