"""``estimate(preset, info, encoder)``: output size and encode time before encoding, and how we know.

Three methods, each named in ``Estimate.method``:

* ``copy`` — stream copy: the output is about the source's size; time is disk speed (assumed 150 MB/s).
* ``heuristic`` (default for encodes) — size from the plan's expected bitrate (a bits-per-pixel rule of
  thumb for CRF, see ``plan.py``) times duration; time from this machine's measured encoder throughput:
  a one-off 2-second encode of a synthetic 640x360 picture with the same encoder and x264 preset
  (cached per ffmpeg/encoder/preset), scaled by output pixels, plus a decode share for the source.
* ``sample`` (``calibrate=True``) — encode up to 3 s from the middle of the real source with the exact
  compression command and scale its size and time by duration. Costs a few seconds; real content.

``size_bytes_max`` is an upper bound from the VBV cap (``max_kbps``) and is what the free-space check
uses, because running out of disk at 95 % is worse than refusing up front.
"""

from __future__ import annotations

import functools
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from app.core.media.command import build_compress_args
from app.core.media.encoders import EncoderChoice, encoder_spec
from app.core.media.ffmpeg import FfmpegTools, find_ffmpeg
from app.core.media.info import MediaInfo
from app.core.media.plan import OutputPlan, plan_output
from app.core.media.presets import Preset
from app.core.media.runner import run_ffmpeg

COPY_BYTES_PER_S = 150e6
AUDIO_REALTIME_FACTOR = 150.0  # ffmpeg's AAC encoder runs at roughly 100-300x real time
DECODE_COST_RATIO = 0.25  # decoding a pixel costs about a quarter of encoding it with x264 "fast"
CONTAINER_OVERHEAD = 1.02
SAMPLE_SECONDS = 3.0
_BENCH_SIZE = (640, 360)
_BENCH_SECONDS = 2.0


@dataclass(frozen=True)
class Estimate:
    size_bytes: int
    size_bytes_max: int
    seconds: float
    method: str
    detail: str = ""


def estimate(
    preset: Preset,
    media_info: MediaInfo,
    encoder: EncoderChoice | None,
    *,
    tools: FfmpegTools | None = None,
    calibrate: bool = False,
    plan: OutputPlan | None = None,
) -> Estimate:
    plan = plan or plan_output(preset, media_info)
    duration = media_info.duration_s or 0.0
    if plan.kind == "copy":
        size = media_info.size_bytes
        return Estimate(
            size_bytes=size,
            size_bytes_max=size_upper_bound(plan, media_info),
            seconds=0.2 + size / COPY_BYTES_PER_S,
            method="copy",
            detail=f"stream copy of {size} bytes at an assumed {COPY_BYTES_PER_S / 1e6:.0f} MB/s",
        )
    if plan.kind == "audio":
        size = int((plan.audio_kbps or 0) * 125 * duration * CONTAINER_OVERHEAD) + 8192
        return Estimate(
            size_bytes=size,
            size_bytes_max=size_upper_bound(plan, media_info),
            seconds=0.2 + duration / AUDIO_REALTIME_FACTOR,
            method="heuristic",
            detail=f"{plan.audio_kbps} kb/s AAC for {duration:.1f} s",
        )
    tools = tools or find_ffmpeg()
    encoder_name = encoder.name if encoder is not None else "libx264"
    size_max = _video_size_max(plan, duration)
    if calibrate and duration > 0:
        return _sampled(media_info, plan, encoder, tools, duration, size_max)

    size = int((plan.expected_bitrate_bps / 8) * duration * CONTAINER_OVERHEAD)
    startup = process_startup_seconds(tools.ffmpeg)
    throughput = encoder_pixels_per_second(tools.ffmpeg, encoder_name, plan.x264_preset or "medium")
    video = media_info.require_video()
    fps = plan.fps or 30.0
    pixels = (plan.width or 0) * (plan.height or 0) * fps * duration
    source_pixels = video.width * video.height * (video.fps or fps) * duration
    seconds = startup + (pixels + DECODE_COST_RATIO * source_pixels) / throughput
    return Estimate(
        size_bytes=size,
        size_bytes_max=size_max,
        seconds=seconds,
        method="heuristic",
        detail=(
            f"{plan.expected_bitrate_bps // 1000} kb/s expected for {duration:.1f} s; "
            f"{encoder_name} measured at {throughput / 1e6:.1f} Mpixel/s here"
        ),
    )


def size_upper_bound(plan: OutputPlan, media_info: MediaInfo) -> int:
    """The most bytes this output should take (no encoding, no benchmark): for free-space checks."""
    duration = media_info.duration_s or 0.0
    if plan.kind == "copy":
        return int(media_info.size_bytes * CONTAINER_OVERHEAD) + 1_048_576
    if plan.kind == "audio":
        return int((plan.audio_kbps or 0) * 125 * duration * CONTAINER_OVERHEAD * 1.15) + 65536
    return _video_size_max(plan, duration)


def _video_size_max(plan: OutputPlan, duration: float) -> int:
    # VBV: the average cannot exceed maxrate for long; one buffer (2 x maxrate) of slack on top.
    max_kbps = (plan.video_max_kbps or plan.video_kbps or 0) + (plan.audio_kbps or 0)
    return int(max_kbps * 125 * (duration + 2) * CONTAINER_OVERHEAD) + 65536


def _sampled(
    info: MediaInfo,
    plan: OutputPlan,
    encoder: EncoderChoice | None,
    tools: FfmpegTools,
    duration: float,
    size_max: int,
) -> Estimate:
    length = min(SAMPLE_SECONDS, duration)
    start = max(0.0, (duration - length) / 2)
    with tempfile.TemporaryDirectory(prefix="reeldrop-sample-") as folder:
        sample = Path(folder) / f"sample{plan.extension}"
        args = build_compress_args(
            info.path, sample, plan, encoder, start_s=start, duration_s=length, demuxer=info.demuxer
        )
        run = run_ffmpeg(args, length, tools=tools, subject=info.path)
        sample_bytes = sample.stat().st_size
    startup = process_startup_seconds(tools.ffmpeg)
    scale = duration / length
    return Estimate(
        size_bytes=int(sample_bytes * scale),
        size_bytes_max=max(size_max, int(sample_bytes * scale * 1.25)),
        seconds=startup + max(0.0, run.seconds - startup) * scale,
        method="sample",
        detail=f"encoded {length:.1f} s from {start:.1f} s: {sample_bytes} bytes in {run.seconds:.2f} s",
    )


@functools.cache
def process_startup_seconds(ffmpeg: str) -> float:
    """Wall time of an ffmpeg run that does next to nothing (process start, library loading)."""
    started = time.monotonic()
    args = ["-f", "lavfi", "-i", "nullsrc=s=16x16", "-frames:v", "1", "-f", "null", "-"]
    run_ffmpeg(args, None, tools=FfmpegTools(ffmpeg, None, "?"))
    return time.monotonic() - started


@functools.cache
def encoder_pixels_per_second(ffmpeg: str, encoder: str, x264_preset: str) -> float:
    """Measured once per process: pixels per second this encoder manages on a synthetic picture."""
    spec = encoder_spec(encoder)
    width, height = _BENCH_SIZE
    args = [*spec.pre_input_args(), "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=25"]
    args += ["-t", f"{_BENCH_SECONDS}", *spec.output_args()]
    for option, value in spec.quality_options(23, x264_preset, 1500, 3000).items():
        args += [f"-{option}", str(value)]
    args += ["-f", "null", "-"]
    run = run_ffmpeg(args, _BENCH_SECONDS, tools=FfmpegTools(ffmpeg, None, "?"))
    busy = max(0.05, run.seconds - process_startup_seconds(ffmpeg))
    return width * height * 25 * _BENCH_SECONDS / busy
