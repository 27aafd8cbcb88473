"""Turn ffprobe's JSON, or the banner ``ffmpeg -i`` prints on stderr, into MediaInfo parts.

Both parsers return the same ``ParsedMedia`` so that probing works the same with the system ffprobe and
with the bundled ffmpeg that has none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.core.media.info import AudioStream, VideoStream

_CHANNEL_LAYOUTS = {
    "mono": 1,
    "stereo": 2,
    "2.1": 3,
    "3.0": 3,
    "quad": 4,
    "4.0": 4,
    "5.0": 5,
    "4.1": 5,
    "5.1": 6,
    "6.1": 7,
    "7.1": 8,
}


@dataclass(frozen=True)
class ParsedMedia:
    format_name: str
    duration_s: float | None
    bit_rate: int | None
    video: VideoStream | None
    audio: AudioStream | None
    stream_count: int


# ---------------------------------------------------------------- ffprobe -print_format json


def parse_ffprobe_json(data: dict[str, Any]) -> ParsedMedia:
    fmt = data.get("format") or {}
    streams = data.get("streams") or []
    video_json = next(
        (s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")),
        None,
    )
    audio_json = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = _float(fmt.get("duration"))
    if duration is None:
        duration = max((d for s in streams if (d := _float(s.get("duration"))) is not None), default=None)
    return ParsedMedia(
        format_name=str(fmt.get("format_name") or "unknown"),
        duration_s=duration,
        bit_rate=_int(fmt.get("bit_rate")),
        video=_video_from_json(video_json) if video_json else None,
        audio=_audio_from_json(audio_json) if audio_json else None,
        stream_count=len(streams),
    )


def _video_from_json(stream: dict[str, Any]) -> VideoStream | None:
    width, height = _int(stream.get("width")), _int(stream.get("height"))
    if not width or not height:
        return None
    rotation: float | None = None
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            rotation = _float(side["rotation"])
    if rotation is None:
        rotation = _float((stream.get("tags") or {}).get("rotate"))
    return VideoStream(
        codec=str(stream.get("codec_name") or "unknown"),
        width=width,
        height=height,
        fps=_rate(stream.get("avg_frame_rate")) or _rate(stream.get("r_frame_rate")),
        rotation=normalise_rotation(rotation),
        sample_aspect=_ratio(stream.get("sample_aspect_ratio")),
        pix_fmt=stream.get("pix_fmt"),
        bit_rate=_int(stream.get("bit_rate")),
    )


def _audio_from_json(stream: dict[str, Any]) -> AudioStream:
    return AudioStream(
        codec=str(stream.get("codec_name") or "unknown"),
        channels=_int(stream.get("channels")),
        sample_rate=_int(stream.get("sample_rate")),
        bit_rate=_int(stream.get("bit_rate")),
    )


# ---------------------------------------------------------------- ffmpeg -i banner on stderr

_INPUT_RE = re.compile(r"^Input #0, (.+?), from '", re.MULTILINE)
_DURATION_RE = re.compile(r"Duration: (?:(\d+):(\d+):(\d+(?:\.\d+)?)|N/A)(?:.*?bitrate: (\d+) kb/s)?")
_STREAM_RE = re.compile(
    r"^\s*Stream #0:\d+(?:\[[^\]]*\])?(?:\([^)]*\))?: (Video|Audio|Subtitle|Data|Attachment): (.*)$"
)
_SIZE_RE = re.compile(r"(?<!\w)([1-9]\d{0,4})x([1-9]\d{0,4})(?!\w)")
_SAR_RE = re.compile(r"\[SAR (\d+):(\d+) DAR")
_FPS_RE = re.compile(r"(\d+(?:\.\d+)?)(k?) fps")
_TBR_RE = re.compile(r"(\d+(?:\.\d+)?)(k?) tbr")
_KBPS_RE = re.compile(r"(\d+) kb/s")
_HZ_RE = re.compile(r"(\d+) Hz")
_ROTATION_RE = re.compile(r"(?:rotation of (-?\d+(?:\.\d+)?) degrees|^\s*rotate\s*:\s*(-?\d+))", re.MULTILINE)


def parse_ffmpeg_banner(stderr: str) -> ParsedMedia | None:
    """Parse the ``Input #0`` block of ``ffmpeg -i``; None when ffmpeg printed no such block."""
    header = _INPUT_RE.search(stderr)
    if header is None:
        return None
    block = stderr[header.start() :].split("\nOutput #", 1)[0]
    duration_match = _DURATION_RE.search(block)
    duration = bit_rate = None
    if duration_match and duration_match.group(1) is not None:
        hours, minutes, seconds = duration_match.group(1, 2, 3)
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    if duration_match and duration_match.group(4):
        bit_rate = int(duration_match.group(4)) * 1000

    video: VideoStream | None = None
    audio: AudioStream | None = None
    count = 0
    for kind, description, extra in _stream_blocks(block):
        count += 1
        if kind == "Video" and video is None and "(attached pic)" not in description:
            video = _video_from_banner(description, extra)
        elif kind == "Audio" and audio is None:
            audio = _audio_from_banner(description)
    return ParsedMedia(header.group(1), duration, bit_rate, video, audio, count)


def _stream_blocks(block: str) -> list[tuple[str, str, str]]:
    """(kind, description line, the indented lines under it: metadata and side data)."""
    found: list[tuple[str, str, list[str]]] = []
    for line in block.splitlines():
        match = _STREAM_RE.match(line)
        if match:
            found.append((match.group(1), match.group(2), []))
        elif found:
            found[-1][2].append(line)
    return [(kind, desc, "\n".join(extra)) for kind, desc, extra in found]


def _video_from_banner(description: str, extra: str) -> VideoStream | None:
    size = _SIZE_RE.search(description)
    if size is None:
        return None
    parts = _top_level_parts(description)
    sar = _SAR_RE.search(description)
    fps_match = _FPS_RE.search(description) or _TBR_RE.search(description)
    fps = None
    if fps_match:
        fps = float(fps_match.group(1)) * (1000 if fps_match.group(2) else 1)
    rotation = None
    rotation_match = _ROTATION_RE.search(extra)
    if rotation_match:
        rotation = float(rotation_match.group(1) or rotation_match.group(2))
    pix_fmt = parts[1].split("(")[0].strip() if len(parts) > 1 else None
    kbps = _KBPS_RE.search(description)
    return VideoStream(
        codec=_codec_name(description),
        width=int(size.group(1)),
        height=int(size.group(2)),
        fps=fps,
        rotation=normalise_rotation(rotation),
        sample_aspect=int(sar.group(1)) / int(sar.group(2)) if sar and int(sar.group(2)) else 1.0,
        pix_fmt=pix_fmt if pix_fmt and re.fullmatch(r"[a-z0-9_]+", pix_fmt) else None,
        bit_rate=int(kbps.group(1)) * 1000 if kbps else None,
    )


def _audio_from_banner(description: str) -> AudioStream:
    parts = _top_level_parts(description)
    channels = None
    for part in parts[1:]:
        layout = part.split("(")[0].strip()
        if layout in _CHANNEL_LAYOUTS:
            channels = _CHANNEL_LAYOUTS[layout]
            break
        numbered = re.fullmatch(r"(\d+) channels", layout)
        if numbered:
            channels = int(numbered.group(1))
            break
    hz = _HZ_RE.search(description)
    kbps = _KBPS_RE.search(description)
    return AudioStream(
        codec=_codec_name(description),
        channels=channels,
        sample_rate=int(hz.group(1)) if hz else None,
        bit_rate=int(kbps.group(1)) * 1000 if kbps else None,
    )


def _codec_name(description: str) -> str:
    return description.split(",", 1)[0].split(" ", 1)[0].strip() or "unknown"


def _top_level_parts(description: str) -> list[str]:
    """Split on commas that are not inside parentheses or brackets."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in description:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts


# ---------------------------------------------------------------- small converters


def normalise_rotation(degrees: float | None) -> int:
    if degrees is None:
        return 0
    return (round(degrees / 90) * 90) % 360


def _float(value: Any) -> float | None:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if result == result and result >= 0 else None  # drop NaN and negatives


def _int(value: Any) -> int | None:
    number = _float(value)
    return int(number) if number is not None else None


def _rate(value: Any) -> float | None:
    ratio = _ratio(value, default=0.0)
    return ratio or None


def _ratio(value: Any, default: float = 1.0) -> float:
    if not isinstance(value, str) or (":" not in value and "/" not in value):
        return default
    numerator, _, denominator = value.replace(":", "/").partition("/")
    try:
        num, den = float(numerator), float(denominator)
    except ValueError:
        return default
    return num / den if num > 0 and den > 0 else default
