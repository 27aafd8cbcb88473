"""Issue 16 item 5 (the worker's part): its settings are declared once with pydantic-settings (name, default,
bounds), read from the environment load_config was given and nowhere else, and each bad form stops the start
with a sentence naming the setting and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.server.config import load_config
from app.server.worker.settings import ENV_NAMES, WorkerSettings


def settings_from(tmp_path: Path, env: dict[str, str]) -> WorkerSettings:
    return WorkerSettings.from_config(load_config(env, data_dir=tmp_path))


def test_the_defaults_and_every_setting_by_its_environment_name(tmp_path: Path) -> None:
    defaults = settings_from(tmp_path, {})
    assert (defaults.x264_preset, defaults.threads, defaults.queue_name, defaults.heartbeat_timeout_s) == (
        None,
        2,
        "reeldrop",
        120,
    )
    given = {
        "REELDROP_X264_PRESET": "ultrafast",
        "REELDROP_WORKER_THREADS": "3",
        "REELDROP_QUEUE_NAME": "render",
        "REELDROP_SWEEP_INTERVAL": "60",
        "REELDROP_FFMPEG_TIMEOUT": "600",
        "REELDROP_JOB_HEARTBEAT_TIMEOUT": "30",
        "REELDROP_JOB_MAX_WORKER_LOSSES": "5",
        "REELDROP_MAX_PIXELS": "2073600",
        "REELDROP_MAX_DURATION": "3600",
        "REELDROP_MAX_FRAMES": "216000",
        "REELDROP_FFMPEG_THREADS": "1",
        "REELDROP_FFMPEG_MEMORY_MIB": "1024",
        "REELDROP_WORKER_SURPRISE": "ignored",  # not a setting: left alone
    }
    assert set(given) - ENV_NAMES == {"REELDROP_WORKER_SURPRISE"}  # every setting is named above
    read = settings_from(tmp_path, given)
    assert read.model_dump() == {
        "x264_preset": "ultrafast",
        "threads": 3,
        "queue_name": "render",
        "sweep_interval_s": 60,
        "ffmpeg_timeout_s": 600,
        "heartbeat_timeout_s": 30,
        "max_worker_losses": 5,
        "max_pixels": 2073600,
        "max_duration_s": 3600,
        "max_frames": 216000,
        "ffmpeg_threads": 1,
        "ffmpeg_memory_mib": 1024,
    }
    assert settings_from(tmp_path, {"REELDROP_WORKER_THREADS": "  "}).threads == 2  # empty is unset


@pytest.mark.parametrize(
    ("env", "sentence"),
    [
        ({"REELDROP_X264_PRESET": "warp"}, "REELDROP_X264_PRESET must be 'ultrafast', "),
        ({"REELDROP_WORKER_THREADS": "two"}, "REELDROP_WORKER_THREADS must be a valid integer"),
        ({"REELDROP_WORKER_THREADS": "0"}, "REELDROP_WORKER_THREADS must be greater than or equal to 1, got '0'"),
        ({"REELDROP_JOB_HEARTBEAT_TIMEOUT": "1"}, "REELDROP_JOB_HEARTBEAT_TIMEOUT must be greater than or equal to 2"),
        ({"REELDROP_MAX_PIXELS": "100"}, "REELDROP_MAX_PIXELS must be greater than or equal to 4096, got '100'"),
        ({"REELDROP_FFMPEG_MEMORY_MIB": "-1"}, "REELDROP_FFMPEG_MEMORY_MIB must be greater than or equal to 256"),
        ({"REELDROP_FFMPEG_TIMEOUT": "1.5"}, "REELDROP_FFMPEG_TIMEOUT must be a valid integer"),
    ],
)
def test_a_bad_setting_is_named_with_its_value(tmp_path: Path, env: dict[str, str], sentence: str) -> None:
    with pytest.raises(ValueError) as refused:
        settings_from(tmp_path, env)
    assert sentence in str(refused.value)


def test_every_bad_setting_is_named_at_once(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as refused:
        settings_from(tmp_path, {"REELDROP_WORKER_THREADS": "0", "REELDROP_MAX_FRAMES": "lots"})
    assert "REELDROP_WORKER_THREADS" in str(refused.value) and "REELDROP_MAX_FRAMES" in str(refused.value)


def test_the_shell_does_not_reach_a_server_given_its_own_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the worker fell back to os.environ: a developer's REELDROP_X264_PRESET changed a test's server."""
    monkeypatch.setenv("REELDROP_X264_PRESET", "veryslow")
    monkeypatch.setenv("REELDROP_WORKER_THREADS", "not a number")
    assert settings_from(tmp_path, {}).x264_preset is None
    assert load_config(data_dir=tmp_path).extra["REELDROP_X264_PRESET"] == "veryslow"  # the real environment
