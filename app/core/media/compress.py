"""Compress one file to a preset: probe → plan → free-space check → ffmpeg into a temp file → rename.

Progress and cancel follow ``runner.run_ffmpeg``; a cancelled or failed encode leaves neither the temp
file nor the destination behind. With ``fragmented=True`` the MP4 is written as self-contained fragments
(no index at the end), so an uploader may read the file while it grows (``on_output_started`` tells it
where); with ``in_place=True`` ffmpeg writes the destination itself (no rename that would pull the file
from under such a reader), and a failure deletes it.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.core.media.atomic import atomic_output, in_place_output
from app.core.media.command import build_compress_args
from app.core.media.encoders import EncoderChoice, choose_encoder
from app.core.media.errors import FfmpegFailed, InsufficientDiskSpace
from app.core.media.estimate import size_upper_bound
from app.core.media.ffmpeg import FfmpegTools, find_ffmpeg
from app.core.media.info import MediaInfo
from app.core.media.plan import OutputPlan, plan_output
from app.core.media.presets import Preset, get_preset
from app.core.media.probe import probe
from app.core.media.progress import CancelToken
from app.core.media.runner import ProgressCallback, ffmpeg_argv, run_ffmpeg

log = logging.getLogger(__name__)

# Room left for the file system, logs and the final copy when temp and destination differ.
FREE_SPACE_MARGIN_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class CompressResult:
    path: Path
    size_bytes: int
    seconds: float
    encoder: str | None
    """Video encoder used ("libx264", "h264_nvenc"...); None for stream copy and audio-only."""
    plan: OutputPlan
    argv: tuple[str, ...]
    """The command that ran (it wrote to the temp file, then that file was renamed to ``path``)."""


@dataclass(frozen=True)
class PreparedCompression:
    info: MediaInfo
    plan: OutputPlan
    encoder: EncoderChoice | None


def prepare(
    source: Path | str,
    preset: Preset | str,
    *,
    info: MediaInfo | None = None,
    encoder: EncoderChoice | None = None,
    tools: FfmpegTools | None = None,
) -> PreparedCompression:
    """Probe (unless ``info`` is given), plan, and pick an encoder when the preset re-encodes video."""
    preset = get_preset(preset) if isinstance(preset, str) else preset
    tools = tools or find_ffmpeg()
    info = info or probe(source, tools=tools)
    plan = plan_output(preset, info)
    if plan.kind == "video" and encoder is None:
        encoder = choose_encoder(tools)
    return PreparedCompression(info, plan, encoder if plan.kind == "video" else None)


def compress_argv(
    source: Path | str,
    destination: Path | str,
    preset: Preset | str,
    *,
    info: MediaInfo | None = None,
    encoder: EncoderChoice | None = None,
    tools: FfmpegTools | None = None,
    fragmented: bool = False,
) -> list[str]:
    """The full ffmpeg command ``compress`` runs, writing straight to ``destination`` (for benchmarks)."""
    tools = tools or find_ffmpeg()
    prepared = prepare(source, preset, info=info, encoder=encoder, tools=tools)
    args = build_compress_args(
        Path(source).absolute(),
        Path(destination).absolute(),
        prepared.plan,
        prepared.encoder,
        fragmented=fragmented,
        demuxer=prepared.info.demuxer,
    )
    return ffmpeg_argv(args, tools)


def check_free_space(needed_bytes: int, folder: Path, *, subject: Path | None = None) -> None:
    usage = shutil.disk_usage(folder)
    if usage.free < needed_bytes + FREE_SPACE_MARGIN_BYTES:
        raise InsufficientDiskSpace(
            f"not enough free space in {folder}: the output may need up to "
            f"{_mib(needed_bytes)} (+{_mib(FREE_SPACE_MARGIN_BYTES)} margin) but only "
            f"{_mib(usage.free)} is free",
            subject,
        )


def compress(
    source: Path | str,
    destination: Path | str,
    preset: Preset | str,
    *,
    temp_dir: Path | str | None = None,
    encoder: EncoderChoice | None = None,
    tools: FfmpegTools | None = None,
    info: MediaInfo | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    fragmented: bool = False,
    on_output_started: Callable[[Path], None] | None = None,
    timeout: float | None = None,
    in_place: bool = False,
) -> CompressResult:
    """Encode ``source`` to ``destination`` with ``preset``; the temp file lives in ``temp_dir``.

    Raises a ``MediaError`` subclass: the probe's errors, ``NoVideoStream``/``NoAudioStream``,
    ``InsufficientDiskSpace`` (before starting, or if the disk fills up), ``MediaCancelled``,
    ``FfmpegFailed``/``FfmpegTimeout``.
    """
    source, destination = Path(source).absolute(), Path(destination).absolute()
    tools = tools or find_ffmpeg()
    prepared = prepare(source, preset, info=info, encoder=encoder, tools=tools)
    plan = prepared.plan
    temp_folder = Path(temp_dir) if temp_dir is not None else destination.parent
    temp_folder.mkdir(parents=True, exist_ok=True)
    destination.parent.mkdir(parents=True, exist_ok=True)

    needed = size_upper_bound(plan, prepared.info)
    check_free_space(needed, temp_folder, subject=source)
    if temp_folder.stat().st_dev != destination.parent.stat().st_dev:
        check_free_space(needed, destination.parent, subject=source)

    output = in_place_output(destination) if in_place else atomic_output(destination, temp_folder)
    with output as temp:
        args = build_compress_args(
            source, temp, plan, prepared.encoder, fragmented=fragmented, demuxer=prepared.info.demuxer
        )
        if on_output_started is not None:
            on_output_started(temp)
        try:
            run = run_ffmpeg(args, plan.duration_s, on_progress, cancel, tools=tools, timeout=timeout, subject=source)
        except FfmpegFailed as exc:
            if "No space left on device" in exc.detail:
                raise InsufficientDiskSpace(f"the disk filled up while writing {temp}", source) from exc
            raise
        if not temp.is_file() or temp.stat().st_size == 0:
            raise FfmpegFailed("ffmpeg finished but wrote no output", source)
        size = temp.stat().st_size
    log.info(
        "compressed %s -> %s (%s, %s, %d bytes in %.1f s)",
        source.name,
        destination,
        plan.preset,
        prepared.encoder.name if prepared.encoder else plan.kind,
        size,
        run.seconds,
    )
    return CompressResult(
        path=destination,
        size_bytes=size,
        seconds=run.seconds,
        encoder=prepared.encoder.name if prepared.encoder else None,
        plan=plan,
        argv=run.argv,
    )


def _mib(value: int) -> str:
    return f"{value / 1048576:.1f} MiB"
