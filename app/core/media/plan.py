"""``plan_output(preset, info) -> OutputPlan``: what a preset will make of one source, before encoding.

Rules: never upscale, keep the display aspect ratio (rotation and non-square pixels included), even
dimensions (H.264 4:2:0 needs them). ffmpeg auto-rotates while decoding, so filters work in display
orientation and the output carries no rotation flag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.core.media.errors import NoAudioStream
from app.core.media.info import MediaInfo, VideoStream
from app.core.media.presets import BoxFit, CanvasFit, Preset

# Codecs ffmpeg's MP4 muxer takes as they are; anything else is stream-copied into Matroska.
_MP4_VIDEO = {"h264", "hevc", "av1", "vp9", "mpeg4"}
_MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}
_CONTAINERS = {"mp4": ("mp4", ".mp4"), "m4a": ("ipod", ".m4a"), "mkv": ("matroska", ".mkv")}

# Bits per pixel that x264 spends at CRF 23 on typical camera footage at 1080p; smaller frames need
# more bits per pixel (the 4th-root term) and every 6 CRF steps halve the rate. Screen recordings and
# static shots need far less, hence estimate(..., calibrate=True) for real figures.
_BPP_AT_CRF23_1080P = 0.08
_PIXELS_1080P = 1920 * 1080

FilterStep = tuple[str, tuple[str | int | float, ...]]


@dataclass(frozen=True)
class OutputPlan:
    preset: str
    kind: str
    muxer: str
    """ffmpeg muxer name: "mp4", "ipod" (.m4a) or "matroska"."""
    extension: str
    width: int | None
    height: int | None
    fps: float | None
    video_codec: str | None
    """Codec of the output video as probe() will report it ("h264"), or None for no video."""
    audio_codec: str | None
    video_filters: tuple[FilterStep, ...] = ()
    audio_channels: int | None = None
    """Downmix target when the source has more channels than the preset allows; None keeps them."""
    crf: int | None = None
    x264_preset: str | None = None
    video_kbps: int | None = None
    """Expected average video bitrate (a rule of thumb for CRF; the cap for hardware encoders)."""
    video_max_kbps: int | None = None
    audio_kbps: int | None = None
    duration_s: float | None = None
    expected_bitrate_bps: int = 0
    layout: str = ""
    """How the picture was fitted, in words: "scaled", "kept source size", "cropped", "letterboxed"."""

    @property
    def stream_copy(self) -> bool:
        return self.kind == "copy"

    def filter_string(self) -> str:
        return ",".join(
            f"{name}={':'.join(str(arg) for arg in args)}" if args else name for name, args in self.video_filters
        )


def plan_output(preset: Preset, info: MediaInfo) -> OutputPlan:
    if preset.kind == "copy":
        return _plan_copy(preset, info)
    if preset.kind == "audio":
        return _plan_audio(preset, info)
    return _plan_video(preset, info)


def _plan_copy(preset: Preset, info: MediaInfo) -> OutputPlan:
    video, audio = info.video, info.audio
    video_ok = video is None or video.codec in _MP4_VIDEO
    audio_ok = audio is None or audio.codec in _MP4_AUDIO
    if video is None and audio is not None and audio.codec in {"aac", "alac"}:
        container = "m4a"
    elif video_ok and audio_ok:
        container = "mp4"
    else:
        container = "mkv"
    muxer, extension = _CONTAINERS[container]
    return OutputPlan(
        preset=preset.name,
        kind="copy",
        muxer=muxer,
        extension=extension,
        width=video.display_width if video else None,
        height=video.display_height if video else None,
        fps=video.fps if video else None,
        video_codec=video.codec if video else None,
        audio_codec=audio.codec if audio else None,
        duration_s=info.duration_s,
        expected_bitrate_bps=info.bit_rate or 0,
        layout="stream copy",
    )


def _plan_audio(preset: Preset, info: MediaInfo) -> OutputPlan:
    if info.audio is None or preset.audio is None:
        raise NoAudioStream("has no audio stream to extract", info.path)
    muxer, extension = _CONTAINERS[preset.container or "m4a"]
    kbps = preset.audio.kbps
    return OutputPlan(
        preset=preset.name,
        kind="audio",
        muxer=muxer,
        extension=extension,
        width=None,
        height=None,
        fps=None,
        video_codec=None,
        audio_codec=preset.audio.codec,
        audio_channels=_downmix(info, preset),
        audio_kbps=kbps,
        duration_s=info.duration_s,
        expected_bitrate_bps=kbps * 1000,
        layout="audio only",
    )


def _plan_video(preset: Preset, info: MediaInfo) -> OutputPlan:
    source = info.require_video()
    assert preset.video is not None and preset.fit is not None  # guaranteed by the presets parser
    steps: list[FilterStep] = []
    if abs(source.sample_aspect - 1.0) > 1e-3:
        # Square the pixels first so that crop/pad below work in display coordinates.
        steps += [("scale", (_even(source.display_width), _even(source.display_height))), ("setsar", (1,))]
    if isinstance(preset.fit, CanvasFit):
        width, height, layout, fit_steps = _fit_canvas(source, preset.fit)
    else:
        width, height, layout, fit_steps = _fit_box(source, preset.fit)
    steps += fit_steps
    fps = source.fps
    if preset.video.max_fps and fps and fps > preset.video.max_fps + 0.01:
        steps.append(("fps", (preset.video.max_fps,)))
        fps = preset.video.max_fps

    video_kbps = _expected_video_kbps(width, height, fps or 30.0, preset.video.crf, preset.video.max_kbps)
    audio = preset.audio if info.audio is not None else None
    audio_kbps = audio.kbps if audio is not None else None
    muxer, extension = _CONTAINERS[preset.container or "mp4"]
    return OutputPlan(
        preset=preset.name,
        kind="video",
        muxer=muxer,
        extension=extension,
        width=width,
        height=height,
        fps=fps,
        video_codec=preset.video.codec,
        audio_codec=audio.codec if audio is not None else None,
        video_filters=tuple(steps),
        audio_channels=_downmix(info, preset) if audio is not None else None,
        crf=preset.video.crf,
        x264_preset=preset.video.x264_preset,
        video_kbps=video_kbps,
        video_max_kbps=preset.video.max_kbps,
        audio_kbps=audio_kbps,
        duration_s=info.duration_s,
        expected_bitrate_bps=(video_kbps + (audio_kbps or 0)) * 1000,
        layout=layout,
    )


def _fit_box(source: VideoStream, box: BoxFit) -> tuple[int, int, str, list[FilterStep]]:
    src_w, src_h = source.display_width, source.display_height
    box_w, box_h = (box.long, box.short) if src_w >= src_h else (box.short, box.long)
    scale = min(1.0, box_w / src_w, box_h / src_h)
    width = _even_within(src_w * scale, min(src_w, box_w))
    height = _even_within(src_h * scale, min(src_h, box_h))
    layout = "scaled" if scale < 1.0 else "kept source size"
    return width, height, layout, [("scale", (width, height)), ("setsar", (1,))]


def _fit_canvas(source: VideoStream, canvas: CanvasFit) -> tuple[int, int, str, list[FilterStep]]:
    src_w, src_h = source.display_width, source.display_height
    # The smallest even-sized frame with the canvas's exact aspect (9:16 -> 18x32); the output is a
    # whole multiple of it, at most the canvas, and never larger than the source allows.
    divisor = math.gcd(canvas.width, canvas.height)
    unit_w, unit_h = canvas.width // divisor, canvas.height // divisor
    if unit_w % 2 or unit_h % 2:
        unit_w, unit_h = unit_w * 2, unit_h * 2
    max_units = canvas.width // unit_w
    target_aspect = canvas.width / canvas.height
    source_aspect = src_w / src_h
    crop_fraction = 1 - min(source_aspect, target_aspect) / max(source_aspect, target_aspect)

    if crop_fraction <= canvas.max_crop_fraction:
        if source_aspect > target_aspect:
            crop_w, crop_h = _even(src_h * target_aspect), _even(src_h)
        else:
            crop_w, crop_h = _even(src_w), _even(src_w / target_aspect)
        units = max(1, min(max_units, crop_w // unit_w, crop_h // unit_h))
        width, height = units * unit_w, units * unit_h
        x, y = (src_w - crop_w) // 2, (src_h - crop_h) // 2
        steps: list[FilterStep] = [("crop", (crop_w, crop_h, x, y)), ("scale", (width, height))]
        layout = "cropped" if crop_fraction > 0.001 else "scaled"
    else:
        if source_aspect > target_aspect:  # wider than the canvas: full width, bars above and below
            units = max(1, min(max_units, src_w // unit_w))
            width, height = units * unit_w, units * unit_h
            content_w, content_h = width, min(height, _even(width / source_aspect))
        else:  # taller than the canvas: full height, bars left and right
            units = max(1, min(max_units, src_h // unit_h))
            width, height = units * unit_w, units * unit_h
            content_w, content_h = min(width, _even(height * source_aspect)), height
        x, y = (width - content_w) // 4 * 2, (height - content_h) // 4 * 2  # centred, even offsets
        steps = [("scale", (content_w, content_h)), ("pad", (width, height, x, y, canvas.pad_color))]
        layout = "letterboxed" if source_aspect > target_aspect else "pillarboxed"
    return width, height, layout, [*steps, ("setsar", (1,))]


def _expected_video_kbps(width: int, height: int, fps: float, crf: int, max_kbps: int) -> int:
    pixels = width * height
    bpp = _BPP_AT_CRF23_1080P * (_PIXELS_1080P / pixels) ** 0.25 * 2 ** ((23 - crf) / 6)
    return max(1, min(max_kbps, round(bpp * pixels * fps / 1000)))


def _downmix(info: MediaInfo, preset: Preset) -> int | None:
    if info.audio is None or preset.audio is None or info.audio.channels is None:
        return None
    return preset.audio.max_channels if info.audio.channels > preset.audio.max_channels else None


def _even_within(value: float, limit: float) -> int:
    """The nearest even number (854 for 853.3, as 480p should be), but never above ``limit``."""
    return min(max(2, round(value / 2) * 2), _even(limit))


def _even(value: float) -> int:
    """Round down to an even number (never up: that could upscale by a pixel), at least 2."""
    return max(2, int(value) // 2 * 2)
