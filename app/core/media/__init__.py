"""Qt-free media layer: find ffmpeg, probe files, plan presets, estimate, compress, run ffmpeg jobs.

Used by the desktop pipeline (compress before upload) and by the server worker (probe uploads, make
renditions, audio, clips and thumbnails with ``run_ffmpeg`` + ``atomic_output``).
"""

from __future__ import annotations

from app.core.media.atomic import atomic_output
from app.core.media.command import build_compress_args
from app.core.media.compress import CompressResult, check_free_space, compress, compress_argv, prepare
from app.core.media.encoders import EncoderCheck, EncoderChoice, check_encoder, choose_encoder
from app.core.media.errors import (
    EmptyMediaFile,
    EncoderUnavailable,
    FfmpegFailed,
    FfmpegNotFound,
    FfmpegTimeout,
    InsufficientDiskSpace,
    MediaCancelled,
    MediaError,
    MediaFileMissing,
    MediaIsDirectory,
    MediaUnreadable,
    NoAudioStream,
    NotMediaFile,
    NoVideoStream,
    TruncatedMedia,
)
from app.core.media.estimate import Estimate, estimate, size_upper_bound
from app.core.media.ffmpeg import FfmpegTools, find_ffmpeg
from app.core.media.info import AudioStream, MediaInfo, VideoStream
from app.core.media.plan import OutputPlan, plan_output
from app.core.media.presets import Preset, PresetCatalog, PresetError, default_catalog, get_preset, load_presets
from app.core.media.probe import probe
from app.core.media.progress import CancelToken, EncodeSnapshot, EncodeTracker
from app.core.media.runner import FfmpegRun, ffmpeg_argv, run_ffmpeg

__all__ = [
    "AudioStream",
    "CancelToken",
    "CompressResult",
    "EmptyMediaFile",
    "EncodeSnapshot",
    "EncodeTracker",
    "EncoderCheck",
    "EncoderChoice",
    "EncoderUnavailable",
    "Estimate",
    "FfmpegFailed",
    "FfmpegNotFound",
    "FfmpegRun",
    "FfmpegTimeout",
    "FfmpegTools",
    "InsufficientDiskSpace",
    "MediaCancelled",
    "MediaError",
    "MediaFileMissing",
    "MediaInfo",
    "MediaIsDirectory",
    "MediaUnreadable",
    "NoAudioStream",
    "NoVideoStream",
    "NotMediaFile",
    "OutputPlan",
    "Preset",
    "PresetCatalog",
    "PresetError",
    "TruncatedMedia",
    "VideoStream",
    "atomic_output",
    "build_compress_args",
    "check_encoder",
    "check_free_space",
    "choose_encoder",
    "compress",
    "compress_argv",
    "default_catalog",
    "estimate",
    "ffmpeg_argv",
    "find_ffmpeg",
    "get_preset",
    "load_presets",
    "plan_output",
    "prepare",
    "probe",
    "run_ffmpeg",
    "size_upper_bound",
]
