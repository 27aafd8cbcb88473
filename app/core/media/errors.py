"""Errors of the media layer.

Every error carries a machine-readable ``error_type`` (stored in job items, shown by the CLI, mapped to a
message in the GUI) and, when a file is involved, the path, so that one bad file in a batch produces one
clear message and never a traceback.
"""

from __future__ import annotations

from pathlib import Path


class MediaError(Exception):
    """Base class: ``error_type`` is stable across releases; the message is for people."""

    error_type: str = "media_error"

    def __init__(self, message: str, path: Path | str | None = None, *, detail: str = "") -> None:
        self.path = Path(path) if path is not None else None
        self.detail = detail
        text = f"{self.path}: {message}" if self.path is not None else message
        super().__init__(text)

    @property
    def message(self) -> str:
        return str(self)

    def as_dict(self) -> dict[str, str | None]:
        """Plain data for job items and logs (``error``, ``error_type``, ``path``)."""
        return {
            "error": str(self),
            "error_type": self.error_type,
            "path": str(self.path) if self.path is not None else None,
        }


class FfmpegNotFound(MediaError):
    error_type = "ffmpeg_missing"


class EncoderUnavailable(MediaError):
    """The ffmpeg in use cannot encode H.264 at all (no libx264 and no working hardware encoder)."""

    error_type = "encoder_missing"


class MediaFileMissing(MediaError):
    error_type = "missing"


class MediaIsDirectory(MediaError):
    error_type = "is_directory"


class MediaUnreadable(MediaError):
    error_type = "unreadable"


class EmptyMediaFile(MediaError):
    error_type = "empty_file"


class NotMediaFile(MediaError):
    error_type = "not_media"


class TruncatedMedia(MediaError):
    error_type = "truncated"


class NoVideoStream(MediaError):
    error_type = "no_video_stream"


class NoAudioStream(MediaError):
    error_type = "no_audio_stream"


class InsufficientDiskSpace(MediaError):
    error_type = "disk_full"


class FfmpegFailed(MediaError):
    """ffmpeg exited non-zero; ``detail`` holds the tail of its stderr."""

    error_type = "ffmpeg_failed"


class FfmpegTimeout(FfmpegFailed):
    error_type = "ffmpeg_timeout"


class MediaCancelled(MediaError):
    """The caller's cancel token was set; ffmpeg was killed and partial output removed."""

    error_type = "cancelled"
