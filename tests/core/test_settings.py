"""Settings: defaults, round trip, corrupt and partly valid files, validation, atomic save, paths."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from app.core import paths
from app.core.settings import (
    BUILTIN_PROFILE,
    EMBEDDED_PROFILE_NAME,
    Profile,
    Settings,
    SettingsError,
    load_settings,
    read_settings,
    save_settings,
)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "rd"))
    return tmp_path / "rd"


@pytest.fixture
def settings_file(home):
    return paths.app_paths().settings_file


def write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)


# --- paths -------------------------------------------------------------------------------------------


def test_paths_follow_reeldrop_home_and_are_created_only_on_ensure(home):
    app_paths = paths.app_paths()
    assert app_paths.config == home / "config"
    assert {p.parent for p in app_paths.all()} == {home}
    assert app_paths.settings_file == home / "config" / "settings.json"
    assert not home.exists()  # resolving paths writes nothing
    paths.ensure()
    assert all(p.is_dir() for p in app_paths.all())
    assert paths.default_output_folder() == home / "output"


def test_paths_without_override_use_platform_folders():
    app_paths = paths.app_paths(environ={})
    assert all("ReelDrop" in str(p) for p in app_paths.all())
    assert paths.app_paths(environ={paths.HOME_ENV: "  "}) == app_paths  # blank override is no override


# --- defaults and round trip -------------------------------------------------------------------------


def test_first_launch_gives_defaults_without_writing(settings_file, caplog):
    with caplog.at_level(logging.WARNING):
        result = read_settings()
    assert result.settings == Settings()
    assert result.problems == () and result.backup is None
    assert caplog.records == []
    settings = result.settings
    assert settings.profiles == (BUILTIN_PROFILE,)
    assert settings.active() == BUILTIN_PROFILE and settings.active().embedded
    assert settings.active_profile == EMBEDDED_PROFILE_NAME == "This computer"
    assert (settings.concurrency, settings.bandwidth_limit, settings.part_size_mib) == (4, None, None)
    assert not settings_file.exists()


def test_round_trip_keeps_every_field(settings_file, tmp_path):
    settings = (
        Settings()
        .with_profile(Profile("Studio", "https://api.studio.test/reeldrop/", "maya"))
        .with_changes(
            active_profile="Studio",
            default_preset="archive",
            output_folder=tmp_path / "out put",
            concurrency=12,
            bandwidth_limit=2_000_000,
            part_size_mib=64,
            hardware_encoder=True,
            start_on_add=False,
            notifications=False,
        )
    )
    assert save_settings(settings) == settings_file
    loaded = read_settings()
    assert loaded.problems == ()
    assert loaded.settings == settings
    assert loaded.settings.active().server_url == "https://api.studio.test/reeldrop"  # normalised
    on_disk = json.loads(settings_file.read_text(encoding="utf-8"))
    assert on_disk["version"] == 1 and on_disk["part_size_mib"] == 64
    assert on_disk["profiles"][0]["name"] == EMBEDDED_PROFILE_NAME  # built-in always first

    auto = settings.with_changes(part_size_mib=None, bandwidth_limit=None)
    save_settings(auto)
    assert json.loads(settings_file.read_text())["part_size_mib"] == "auto"
    assert load_settings() == auto


# --- damaged files -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"", b"   \n", b'{"concurrency": 4,', b"[1, 2, 3]", b'"just a string"', b"\xff\xfe\x00garbage"],
    ids=["empty", "blank", "truncated", "list", "string", "not-utf8"],
)
def test_corrupt_file_gives_defaults_and_is_kept_as_bak(settings_file, content, caplog):
    write(settings_file, content)
    with caplog.at_level(logging.WARNING, logger="app.core.settings"):
        result = read_settings()
    assert result.settings == Settings()
    assert result.backup == settings_file.with_name("settings.json.bak")
    assert result.backup.read_bytes() == content
    assert not settings_file.exists()
    assert len(result.problems) == 1
    assert str(settings_file) in caplog.text and "not valid" in caplog.text

    save_settings(result.settings)  # the app can carry on and save over it
    assert read_settings().problems == ()


def test_partly_valid_file_keeps_good_fields(settings_file, caplog):
    original = {
        "version": 1,
        "profiles": [
            {"name": "Good", "server_url": "https://good.test", "username": "ann"},
            {"name": "", "server_url": "https://noname.test"},
            {"name": "Creds", "server_url": "https://bob:hunter2@evil.test"},
            {"name": "Good", "server_url": "https://duplicate.test"},
            {"name": EMBEDDED_PROFILE_NAME, "server_url": "https://hijack.test"},
            "not an object",
        ],
        "active_profile": "Good",
        "default_preset": "small",
        "concurrency": 999,
        "bandwidth_limit": "fast",
        "part_size_mib": 3,
        "hardware_encoder": "yes",
        "start_on_add": False,
        "notifications": None,
        "token": "tok-should-never-be-saved",
        "colour": "blue",
    }
    write(settings_file, json.dumps(original))
    with caplog.at_level(logging.WARNING, logger="app.core.settings"):
        result = read_settings()
    settings, defaults = result.settings, Settings()

    assert [p.name for p in settings.profiles] == [EMBEDDED_PROFILE_NAME, "Good"]
    assert settings.profile(EMBEDDED_PROFILE_NAME).embedded
    assert settings.active().server_url == "https://good.test"
    assert settings.default_preset == "small" and settings.start_on_add is False
    assert settings.concurrency == defaults.concurrency
    assert settings.bandwidth_limit is None and settings.part_size_mib is None
    assert settings.hardware_encoder is False and settings.notifications is True

    problems = "\n".join(result.problems)
    for needle in ("profiles[1]", "profiles[2]", "profiles[3]", "profiles[4]", "profiles[5]", "concurrency",
                   "bandwidth_limit", "part_size_mib", "hardware_encoder", "notifications", "'token'",
                   "'colour'"):  # fmt: skip
        assert needle in problems
    assert "hunter2" not in problems and "hunter2" not in caplog.text
    assert all(str(settings_file) in r.getMessage() for r in caplog.records)
    # The original is copied aside, and the next save drops the secret and the bad values.
    assert json.loads(result.backup.read_text()) == original
    save_settings(settings)
    saved = settings_file.read_text()
    assert "tok-should-never-be-saved" not in saved and "colour" not in saved


def test_unknown_active_profile_falls_back_to_built_in(settings_file):
    write(settings_file, json.dumps({"profiles": [], "active_profile": "Gone"}))
    result = read_settings()
    assert result.settings.active_profile == EMBEDDED_PROFILE_NAME
    assert any("'Gone'" in p for p in result.problems)


def test_unreadable_settings_path_gives_defaults(settings_file):
    settings_file.mkdir(parents=True)  # a folder where the file should be: reading fails with OSError
    result = read_settings()
    assert result.settings == Settings()
    assert result.problems and result.backup is None
    with pytest.raises(SettingsError, match=str(settings_file)):
        save_settings(result.settings)


# --- validation --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"concurrency": 0}, "concurrency must be between 1 and 32, got 0"),
        ({"concurrency": 33}, "concurrency must be between 1 and 32, got 33"),
        ({"concurrency": True}, "concurrency must be a whole number"),
        ({"concurrency": 2.5}, "concurrency must be a whole number"),
        ({"bandwidth_limit": 0}, "bandwidth_limit (bytes/s) must be at least 1024"),
        ({"part_size_mib": 4}, "part_size_mib must be between 5 and 5120"),
        ({"part_size_mib": 6000}, "part_size_mib must be between 5 and 5120"),
        ({"hardware_encoder": 1}, "hardware_encoder must be true or false"),
        ({"default_preset": " "}, "default_preset must be a preset name"),
        ({"output_folder": ""}, "output_folder must be a folder path"),
        ({"active_profile": "Nobody"}, "active_profile 'Nobody' is not one of the profiles"),
    ],
)
def test_bad_values_are_rejected_with_clear_errors(changes, message):
    with pytest.raises(SettingsError) as caught:
        Settings().with_changes(**changes)
    assert message in str(caught.value)


def test_every_bad_value_is_named_at_once():
    with pytest.raises(SettingsError) as caught:
        Settings(concurrency=0, part_size_mib=1, notifications="no")
    assert all(word in str(caught.value) for word in ("concurrency", "part_size_mib", "notifications"))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://host.test", "must start with http:// or https://"),
        ("https://", "must start with http:// or https:// and name a host"),
        ("videos.test", "must start with http:// or https://"),
        ("https://me:secret@host.test", "must not contain a user name or password"),
        ("https://host.test/?token=abc", "must not have a ?query"),
    ],
)
def test_bad_server_urls_are_rejected(url, message):
    with pytest.raises(SettingsError, match=message.replace("?", r"\?")):
        Profile("Work", url)


def test_profiles_can_be_added_replaced_and_removed_but_not_the_built_in():
    settings = Settings().with_profile(Profile("Work", "https://a.test")).with_changes(active_profile="Work")
    settings = settings.with_profile(Profile("Work", "https://b.test", "zed"))
    assert [p.name for p in settings.profiles] == [EMBEDDED_PROFILE_NAME, "Work"]
    assert settings.active().server_url == "https://b.test"
    with pytest.raises(SettingsError, match="cannot be removed"):
        settings.without_profile(EMBEDDED_PROFILE_NAME)
    with pytest.raises(SettingsError, match="cannot point to a server"):
        settings.with_profile(Profile(EMBEDDED_PROFILE_NAME, "https://c.test"))
    removed = settings.without_profile("Work")
    assert removed.profiles == (BUILTIN_PROFILE,) and removed.active_profile == EMBEDDED_PROFILE_NAME


# --- atomic save -------------------------------------------------------------------------------------


def test_failed_save_leaves_previous_file_and_no_temp_file(settings_file, monkeypatch):
    # The rename is the step that makes a save visible; when it fails nothing must have changed.
    first = Settings().with_changes(concurrency=3)
    save_settings(first)
    before = settings_file.read_bytes()

    def replace_fails(src, dst):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", replace_fails)
        with pytest.raises(SettingsError, match=r"Could not save settings to .*settings\.json: No space left"):
            save_settings(first.with_changes(concurrency=9))

    assert settings_file.read_bytes() == before
    assert sorted(p.name for p in settings_file.parent.iterdir()) == ["settings.json"]
    assert load_settings().concurrency == 3


def test_save_replaces_the_file_in_one_step(settings_file):
    save_settings(Settings())
    old_inode = settings_file.stat().st_ino
    save_settings(Settings().with_changes(concurrency=7))
    # A new file was renamed over the old one (a reader holding the old one still sees a whole file).
    assert settings_file.stat().st_ino != old_inode
    assert load_settings().concurrency == 7
    assert [p.name for p in settings_file.parent.iterdir()] == ["settings.json"]
