"""Worker and queue settings, declared once with pydantic-settings: each field's environment name, default
and bounds.

``load_config`` reads their environment names from the environment it is given into ``ServerConfig.extra``
(where tests and embedders also put them), and ``from_config`` reads them from there only: a standalone
``reeldrop-server worker`` and the in-process consumer agree, and a developer's shell cannot change a test
that passes its own environment. An empty value is unset; a bad one stops the start naming the setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from app.core.media.limits import MIB, ResourceLimits

from ..config import ServerConfig

X264Preset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]


def _cores() -> int:
    return min(4, os.cpu_count() or 1)


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, case_sensitive=True, extra="ignore", env_ignore_empty=True)

    x264_preset: X264Preset | None = Field(None, alias="REELDROP_X264_PRESET")
    """Overrides the presets' own x264 speed (None keeps them: "fast"). Faster = bigger files."""
    threads: int = Field(2, ge=1, alias="REELDROP_WORKER_THREADS")
    """Jobs one consumer runs at once."""
    queue_name: str = Field("reeldrop", min_length=1, alias="REELDROP_QUEUE_NAME")
    """The queue's name in its storage (Redis keys); workers and servers of one system share it."""
    sweep_interval_s: int = Field(3600, ge=1, alias="REELDROP_SWEEP_INTERVAL")
    """Seconds between two sweeps of temp/ (the first runs at start-up)."""
    ffmpeg_timeout_s: int = Field(6 * 3600, ge=1, alias="REELDROP_FFMPEG_TIMEOUT")
    """Longest one ffmpeg step may run before it is stopped as stuck."""
    heartbeat_timeout_s: int = Field(120, ge=2, alias="REELDROP_JOB_HEARTBEAT_TIMEOUT")
    """A running job whose worker has been silent this long is taken back (the worker beats every quarter)."""
    max_worker_losses: int = Field(3, ge=1, alias="REELDROP_JOB_MAX_WORKER_LOSSES")
    """The job fails when its worker has stopped responding this many times (a job that kills workers)."""
    max_pixels: int = Field(8192 * 4320, ge=64 * 64, alias="REELDROP_MAX_PIXELS")
    """Largest picture (width x height) a job takes: 8K DCI. A larger one fails validation, before decoding."""
    max_duration_s: int = Field(6 * 3600, ge=1, alias="REELDROP_MAX_DURATION")
    """Longest source a job takes."""
    max_frames: int = Field(3_000_000, ge=1, alias="REELDROP_MAX_FRAMES")
    """Most frames (duration x frame rate) a job takes: 6 h at 120 fps is 2.6 M."""
    ffmpeg_threads: int = Field(default_factory=_cores, ge=1, alias="REELDROP_FFMPEG_THREADS")
    """ffmpeg's -threads for each step (decoding and encoding)."""
    ffmpeg_memory_mib: int = Field(4096, ge=256, alias="REELDROP_FFMPEG_MEMORY_MIB")
    """Address space of each ffmpeg/ffprobe the worker runs; an 8K source to 1080p needs under 2 GiB."""

    def ffmpeg_limits(self) -> ResourceLimits:
        """Each step's limits: the address space, and CPU time for its wall-clock timeout on every thread."""
        return ResourceLimits(
            address_space_bytes=self.ffmpeg_memory_mib * MIB,
            cpu_seconds=self.ffmpeg_timeout_s * self.ffmpeg_threads,
            threads=self.ffmpeg_threads,
        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only what from_environ hands over: never the process's own environment, nor a .env file."""
        return (init_settings,)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> WorkerSettings:
        """The settings an environment gives (only this mapping is read). Raises ValueError naming each bad
        setting, its value and what it must be."""
        given: dict[str, Any] = {k: v.strip() for k, v in environ.items() if k in ENV_NAMES and v.strip()}
        try:
            return cls(**given)
        except ValidationError as error:
            problems = []
            for problem in error.errors():
                name = str(problem["loc"][0]) if problem["loc"] else "?"
                reason = problem["msg"].replace("Input should be", "must be").replace("Value error, ", "")
                problems.append(f"{name} {reason}, got {given.get(name)!r}")
            raise ValueError("; ".join(problems)) from None

    @classmethod
    def from_config(cls, config: ServerConfig) -> WorkerSettings:
        return cls.from_environ(config.extra)


ENV_NAMES = frozenset(str(field.alias) for field in WorkerSettings.model_fields.values())
"""The environment names of the worker's settings (load_config keeps these from its environment)."""
