"""Worker and queue settings.

They are read from ``ServerConfig.extra`` first (tests and embedders pass them there) and then from the
environment, so a standalone ``reeldrop-server worker`` and the in-process consumer agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from app.core.media.limits import MIB, ResourceLimits

from ..config import ServerConfig

X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)


def _raw(config: ServerConfig, name: str) -> str | None:
    value = config.extra.get(name)
    if value is None:
        value = os.environ.get(name)
    return value.strip() if value is not None and value.strip() else None


def _int(config: ServerConfig, name: str, default: int, minimum: int) -> int:
    raw = _raw(config, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class WorkerSettings:
    x264_preset: str | None
    """Overrides the presets' own x264 speed (None keeps them: "fast"). Faster = bigger files."""
    threads: int
    """Jobs one consumer runs at once."""
    queue_name: str
    """The queue's name in its storage (Redis keys); workers and servers of one system share it."""
    sweep_interval_s: int
    """Seconds between two sweeps of temp/ (the first runs at start-up)."""
    ffmpeg_timeout_s: int
    """Longest one ffmpeg step may run before it is stopped as stuck."""
    heartbeat_timeout_s: int
    """A running job whose worker has been silent this long is taken back (the worker beats every quarter)."""
    max_worker_losses: int
    """The job fails when its worker has stopped responding this many times (a job that kills workers)."""
    max_pixels: int = 8192 * 4320
    """Largest picture (width x height) a job takes: 8K DCI. A larger one fails validation, before decoding."""
    max_duration_s: int = 6 * 3600
    """Longest source a job takes."""
    max_frames: int = 3_000_000
    """Most frames (duration x frame rate) a job takes: 6 h at 120 fps is 2.6 M."""
    ffmpeg_threads: int = 4
    """ffmpeg's -threads for each step (decoding and encoding)."""
    ffmpeg_memory_mib: int = 4096
    """Address space of each ffmpeg/ffprobe the worker runs; an 8K source to 1080p needs under 2 GiB."""

    def ffmpeg_limits(self) -> ResourceLimits:
        """Each step's limits: the address space, and CPU time for its wall-clock timeout on every thread."""
        return ResourceLimits(
            address_space_bytes=self.ffmpeg_memory_mib * MIB,
            cpu_seconds=self.ffmpeg_timeout_s * self.ffmpeg_threads,
            threads=self.ffmpeg_threads,
        )

    @classmethod
    def from_config(cls, config: ServerConfig) -> WorkerSettings:
        preset = _raw(config, "REELDROP_X264_PRESET")
        if preset is not None and preset not in X264_PRESETS:
            raise ValueError(f"REELDROP_X264_PRESET must be one of {', '.join(X264_PRESETS)}, got {preset!r}")
        return cls(
            x264_preset=preset,
            threads=_int(config, "REELDROP_WORKER_THREADS", 2, 1),
            queue_name=_raw(config, "REELDROP_QUEUE_NAME") or "reeldrop",
            sweep_interval_s=_int(config, "REELDROP_SWEEP_INTERVAL", 3600, 1),
            ffmpeg_timeout_s=_int(config, "REELDROP_FFMPEG_TIMEOUT", 6 * 3600, 1),
            heartbeat_timeout_s=_int(config, "REELDROP_JOB_HEARTBEAT_TIMEOUT", 120, 2),
            max_worker_losses=_int(config, "REELDROP_JOB_MAX_WORKER_LOSSES", 3, 1),
            max_pixels=_int(config, "REELDROP_MAX_PIXELS", cls.max_pixels, 64 * 64),
            max_duration_s=_int(config, "REELDROP_MAX_DURATION", cls.max_duration_s, 1),
            max_frames=_int(config, "REELDROP_MAX_FRAMES", cls.max_frames, 1),
            ffmpeg_threads=_int(config, "REELDROP_FFMPEG_THREADS", min(4, os.cpu_count() or 1), 1),
            ffmpeg_memory_mib=_int(config, "REELDROP_FFMPEG_MEMORY_MIB", cls.ffmpeg_memory_mib, 256),
        )
