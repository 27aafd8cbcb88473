"""What a probe learns about a media file, as plain frozen data."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.core.media.errors import NoVideoStream


@dataclass(frozen=True)
class VideoStream:
    codec: str
    width: int
    height: int
    fps: float | None = None
    rotation: int = 0
    """Degrees from the display matrix, normalised to 0, 90, 180 or 270."""
    sample_aspect: float = 1.0
    pix_fmt: str | None = None
    bit_rate: int | None = None

    @property
    def display_width(self) -> int:
        return self._display_size()[0]

    @property
    def display_height(self) -> int:
        return self._display_size()[1]

    def _display_size(self) -> tuple[int, int]:
        # Players widen anamorphic pixels, then apply the rotation; so do we.
        width = round(self.width * self.sample_aspect) if self.sample_aspect > 0 else self.width
        height = self.height
        if self.rotation in (90, 270):
            return height, width
        return width, height


@dataclass(frozen=True)
class AudioStream:
    codec: str
    channels: int | None = None
    sample_rate: int | None = None
    bit_rate: int | None = None


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    size_bytes: int
    format_name: str
    duration_s: float | None
    bit_rate: int | None
    video: VideoStream | None
    audio: AudioStream | None
    probed_with: str
    """"ffprobe" or "ffmpeg" (the ``ffmpeg -i`` parser)."""

    @property
    def demuxer(self) -> str | None:
        """The demuxer every later ffmpeg run is pinned to (``-f``), from the allowed ones."""
        from app.core.media.demuxers import demuxer_of

        return demuxer_of(self.format_name)

    @property
    def has_video(self) -> bool:
        return self.video is not None

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    def require_video(self) -> VideoStream:
        if self.video is None:
            raise NoVideoStream("has no video stream (audio only?)", self.path)
        return self.video

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready data for a metadata report or a job item."""
        data = asdict(self)
        data["path"] = str(self.path)
        if self.video is not None:
            data["video"]["display_width"] = self.video.display_width
            data["video"]["display_height"] = self.video.display_height
        return data
