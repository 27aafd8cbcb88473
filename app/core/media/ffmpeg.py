"""Find an ffmpeg (and, if there is one, an ffprobe) that really runs.

Order: ``REELDROP_FFMPEG`` / ``REELDROP_FFPROBE`` (explicit, never silently ignored) → ``ffmpeg`` and
``ffprobe`` on PATH → the static ffmpeg shipped in the imageio-ffmpeg wheel (it has no ffprobe, so probing
then parses ``ffmpeg -i``). ``REELDROP_FFPROBE=none`` turns ffprobe off on purpose.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from app.core.child_lifetime import run_ending_with_this_process
from app.core.media.errors import FfmpegNotFound

log = logging.getLogger(__name__)

ENV_FFMPEG = "REELDROP_FFMPEG"
ENV_FFPROBE = "REELDROP_FFPROBE"
_VERSION_TIMEOUT_S = 15.0
_VERSION_RE = re.compile(r"^(?:ffmpeg|ffprobe) version (\S+)", re.MULTILINE)


@dataclass(frozen=True)
class FfmpegTools:
    """The binaries the media layer runs. ``source`` says where ffmpeg came from (env, system, bundled)."""

    ffmpeg: str
    ffprobe: str | None
    version: str
    source: str = "system"

    @property
    def has_ffprobe(self) -> bool:
        return self.ffprobe is not None

    def without_ffprobe(self) -> FfmpegTools:
        """The same ffmpeg with probing forced onto the ``ffmpeg -i`` parser."""
        return FfmpegTools(self.ffmpeg, None, self.version, self.source)


def find_ffmpeg(*, allow_system: bool = True) -> FfmpegTools:
    """Return working ffmpeg tools or raise :class:`FfmpegNotFound`.

    The answer is cached per environment (the two override variables, PATH and ``allow_system``), since
    checking means starting a process; :func:`clear_ffmpeg_cache` forgets it.
    """
    return _discover(
        os.environ.get(ENV_FFMPEG) or None,
        os.environ.get(ENV_FFPROBE),
        os.environ.get("PATH", ""),
        allow_system,
    )


def clear_ffmpeg_cache() -> None:
    _discover.cache_clear()


def tool_version(binary: str) -> str:
    """Run ``binary -version`` and return its version string; raise FfmpegNotFound if it does not run."""
    try:
        done = run_ending_with_this_process(
            [binary, "-hide_banner", "-version"], text=True, errors="replace", timeout=_VERSION_TIMEOUT_S
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise FfmpegNotFound(f"cannot run {binary!r}: {exc}") from exc
    match = _VERSION_RE.search(done.stdout)
    if done.returncode != 0 or match is None:
        first_line = (done.stderr or done.stdout).strip().splitlines()[:1]
        raise FfmpegNotFound(f"{binary!r} does not look like ffmpeg/ffprobe: {first_line}")
    return match.group(1)


@functools.lru_cache(maxsize=8)
def _discover(env_ffmpeg: str | None, env_ffprobe: str | None, path_env: str, allow_system: bool) -> FfmpegTools:
    ffprobe_disabled = env_ffprobe is not None and env_ffprobe.strip().lower() in {"", "none", "0", "off"}

    if env_ffmpeg:
        ffmpeg, source = _resolve_explicit(env_ffmpeg, ENV_FFMPEG), "env"
        version = tool_version(ffmpeg)
    else:
        ffmpeg, version, source = _first_working_ffmpeg(path_env, allow_system)

    ffprobe: str | None = None
    if env_ffprobe and not ffprobe_disabled:
        ffprobe = _resolve_explicit(env_ffprobe, ENV_FFPROBE)
        tool_version(ffprobe)  # an explicit override that does not run is an error, not a fallback
    elif not ffprobe_disabled and source != "bundled":
        ffprobe = _working_or_none(shutil.which("ffprobe", path=path_env))

    tools = FfmpegTools(ffmpeg=ffmpeg, ffprobe=ffprobe, version=version, source=source)
    log.info("ffmpeg %s from %s at %s; ffprobe: %s", version, source, ffmpeg, ffprobe or "none")
    return tools


def _resolve_explicit(value: str, variable: str) -> str:
    resolved = shutil.which(value)
    if resolved is None:
        raise FfmpegNotFound(f"{variable}={value!r} is not an executable file")
    return resolved


def _first_working_ffmpeg(path_env: str, allow_system: bool) -> tuple[str, str, str]:
    problems: list[str] = []
    if allow_system:
        system = shutil.which("ffmpeg", path=path_env)
        if system:
            try:
                return system, tool_version(system), "system"
            except FfmpegNotFound as exc:
                problems.append(str(exc))
        else:
            problems.append("no ffmpeg on PATH")
    try:
        import imageio_ffmpeg  # type: ignore[import-untyped]  # lazily: it is only the fallback

        bundled = imageio_ffmpeg.get_ffmpeg_exe()
        return bundled, tool_version(bundled), "bundled"
    except (ImportError, RuntimeError, FfmpegNotFound) as exc:
        problems.append(f"bundled imageio-ffmpeg: {exc}")
    raise FfmpegNotFound(
        "ffmpeg not found. Install ffmpeg (it must be on PATH), set "
        f"{ENV_FFMPEG} to its path, or install the imageio-ffmpeg package. Tried: " + "; ".join(problems)
    )


def _working_or_none(binary: str | None) -> str | None:
    if binary is None:
        return None
    try:
        tool_version(binary)
    except FfmpegNotFound as exc:
        log.warning("ignoring ffprobe at %s: %s", binary, exc)
        return None
    return binary
