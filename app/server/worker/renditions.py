"""Rendition presets for every quality the API accepts, and which of them a source can honestly make.

1080p/720p/480p come from the shared presets file (the desktop uses the same ones); the others are
built here in the same shape. ``plan_output`` then guarantees "never upscale, keep the aspect".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from app.core.media.info import MediaInfo
from app.core.media.presets import (
    RENDITION_BOXES,
    AudioSettings,
    BoxFit,
    Preset,
    PresetError,
    VideoSettings,
    get_preset,
)

# quality -> (crf, max kbps, max fps, audio kbps); its box is the shared RENDITION_BOXES
_QUALITIES: dict[str, tuple[int, int, int, int]] = {
    "2160p": (23, 20000, 60, 192),
    "1440p": (23, 12000, 60, 160),
    "1080p": (23, 8000, 60, 160),
    "720p": (23, 5000, 60, 128),
    "480p": (24, 2500, 30, 96),
    "360p": (25, 1200, 30, 96),
    "240p": (26, 600, 30, 64),
}
THUMBNAIL_BOX = BoxFit(long=640, short=360)


def rendition_preset(quality: str, x264_preset: str | None = None) -> Preset:
    """The H.264/AAC preset for one quality; ``x264_preset`` (a server setting) overrides the speed."""
    try:
        preset = get_preset(quality)
    except PresetError:
        long, short = box_of(quality)
        crf, max_kbps, max_fps, audio_kbps = _QUALITIES[quality]
        preset = Preset(
            name=quality,
            label=f"{quality} (H.264/AAC)",
            kind="video",
            container="mp4",
            fit=BoxFit(long=long, short=short),
            video=VideoSettings(codec="h264", crf=crf, x264_preset="fast", max_kbps=max_kbps, max_fps=max_fps),
            audio=AudioSettings(codec="aac", kbps=audio_kbps, max_channels=2),
        )
    if x264_preset and preset.video is not None:
        preset = replace(preset, video=replace(preset.video, x264_preset=x264_preset))
    return preset


def box_of(quality: str) -> tuple[int, int]:
    return RENDITION_BOXES[quality]


def would_upscale(info: MediaInfo, quality: str) -> bool:
    """True when the source reaches the quality's box in neither dimension (a 320x240 source is no 360p).

    A 1920x800 film still makes a real 1080p (its width fills the box), and a 320x240 source a real 240p.
    """
    video = info.require_video()
    src_long = max(video.display_width, video.display_height)
    src_short = min(video.display_width, video.display_height)
    long, short = box_of(quality)
    return src_long < long and src_short < short


@dataclass(frozen=True)
class RenditionChoice:
    make: tuple[str, ...]
    skipped: tuple[str, ...]
    kept_source_size: str | None = None
    """When every requested quality is above the source, the smallest is made at the source's own size."""


def choose_renditions(info: MediaInfo, requested: list[str]) -> RenditionChoice:
    if not requested:
        return RenditionChoice((), ())
    fitting = tuple(q for q in requested if not would_upscale(info, q))
    skipped = tuple(q for q in requested if q not in fitting)
    if fitting:
        return RenditionChoice(fitting, skipped)
    smallest = min(requested, key=lambda q: box_of(q)[1])
    return RenditionChoice((smallest,), tuple(q for q in requested if q != smallest), kept_source_size=smallest)


def thumbnail_preset() -> Preset:
    """Only its box is used (never upscale, keep the aspect); the picture is a JPEG."""
    return Preset(
        name="thumbnail",
        label="Thumbnail",
        kind="video",
        container="mp4",
        fit=THUMBNAIL_BOX,
        video=VideoSettings(codec="h264", crf=23, x264_preset="fast", max_kbps=1000),
    )
