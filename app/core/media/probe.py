"""``probe(path) -> MediaInfo``: what is in a file, or a MediaError that says clearly why not.

Checks are ordered from cheap to expensive: the file system (missing, folder, empty, unreadable), then
the MP4 box structure (truncated), then ffprobe's JSON — or, when there is no ffprobe (the bundled
imageio-ffmpeg), the ``Input #0`` banner of ``ffmpeg -i``.
"""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

from app.core.child_lifetime import run_ending_with_this_process
from app.core.media.containers import BoxScan, scan_boxes
from app.core.media.demuxers import demuxer_of, input_args, playlist_kind
from app.core.media.errors import (
    EmptyMediaFile,
    FfmpegTimeout,
    MediaError,
    MediaFileMissing,
    MediaIsDirectory,
    MediaUnreadable,
    NotMediaFile,
    TruncatedMedia,
)
from app.core.media.ffmpeg import FfmpegTools, find_ffmpeg
from app.core.media.info import MediaInfo
from app.core.media.limits import ResourceLimits
from app.core.media.probe_parse import ParsedMedia, parse_ffmpeg_banner, parse_ffprobe_json
from app.core.source_file import SourceProblem, check_source

log = logging.getLogger(__name__)

DEFAULT_PROBE_TIMEOUT_S = 60.0
# A file the probe must not open (a pipe or device can block a read forever), as the media error it raises.
_PROBLEMS: dict[SourceProblem, type[MediaError]] = {
    SourceProblem.MISSING: MediaFileMissing,
    SourceProblem.IS_DIRECTORY: MediaIsDirectory,
    SourceProblem.NOT_REGULAR: NotMediaFile,
    SourceProblem.EMPTY: EmptyMediaFile,
    SourceProblem.UNREADABLE: MediaUnreadable,
}
_STILL_IMAGE_FORMATS = {"image2"}  # plus every "*_pipe" demuxer (png_pipe, jpeg_pipe, webp_pipe...)


def probe(
    path: Path | str,
    *,
    tools: FfmpegTools | None = None,
    timeout: float = DEFAULT_PROBE_TIMEOUT_S,
    limits: ResourceLimits | None = None,
) -> MediaInfo:
    """Describe a media file. Raises a :class:`MediaError` subclass for anything that is not usable media.
    ``limits`` bound the probing process (a server probing what strangers upload).

    Audio-only files are valid media (``info.video is None``); callers that need a picture use
    ``info.require_video()``, which raises ``NoVideoStream``.
    """
    path = Path(path).absolute()  # absolute: a name like "-x.mp4" or "a:b.mp4" is never read as an option
    size = _check_regular_readable_file(path)
    boxes = _scan_iso_boxes(path)
    if boxes is not None and boxes.truncated:
        raise TruncatedMedia(f"the MP4/MOV file is incomplete ({boxes.reason}); was it cut short?", path)

    tools = tools or find_ffmpeg()
    if tools.ffprobe:
        parsed, stderr = _run_ffprobe(tools.ffprobe, path, timeout, limits)
        probed_with = "ffprobe"
    else:
        parsed, stderr = _run_ffmpeg_banner(tools.ffmpeg, path, timeout, limits)
        probed_with = "ffmpeg"
    if parsed is None:
        raise _failure_from_stderr(path, stderr, boxes)
    if parsed.video is None and parsed.audio is None:
        raise NotMediaFile("contains no audio or video stream", path)
    if parsed.format_name in _STILL_IMAGE_FORMATS or parsed.format_name.endswith("_pipe"):
        raise NotMediaFile(f"is a still image ({parsed.format_name}), not a video or audio file", path)
    if demuxer_of(parsed.format_name) is None:  # the whitelist let it through: never, but never run it either
        raise NotMediaFile(f"is in a container ReelDrop does not accept ({parsed.format_name})", path)

    bit_rate = parsed.bit_rate
    if bit_rate is None and parsed.duration_s:
        bit_rate = int(size * 8 / parsed.duration_s)
    info = MediaInfo(
        path=path,
        size_bytes=size,
        format_name=parsed.format_name,
        duration_s=parsed.duration_s,
        bit_rate=bit_rate,
        video=parsed.video,
        audio=parsed.audio,
        probed_with=probed_with,
    )
    log.debug("probed %s with %s: %s", path, probed_with, info)
    return info


def _check_regular_readable_file(path: Path) -> int:
    source = check_source(path)
    if source.problem is None or source.problem is SourceProblem.TOO_LARGE:  # a size limit of S3, not of ffprobe
        return source.size
    raise _PROBLEMS[source.problem](source.cause, path)


def _scan_iso_boxes(path: Path) -> BoxScan | None:
    try:
        scan = scan_boxes(path)
    except OSError as exc:
        raise MediaUnreadable(f"cannot be read ({exc.strerror or exc})", path) from exc
    return scan if scan.is_iso_bmff else None


def _run(
    argv: list[str], path: Path, timeout: float, limits: ResourceLimits | None
) -> subprocess.CompletedProcess[str]:
    try:
        return run_ending_with_this_process(
            [*argv[:1], *(limits.thread_args() if limits else []), *argv[1:]],
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            rlimits=limits.rlimits() if limits else (),
        )
    except subprocess.TimeoutExpired as exc:
        raise FfmpegTimeout(f"probing took longer than {timeout:.0f} s", path) from exc


def _run_ffprobe(
    ffprobe: str, path: Path, timeout: float, limits: ResourceLimits | None
) -> tuple[ParsedMedia | None, str]:
    argv = [ffprobe, "-v", "error", "-hide_banner", "-print_format", "json", *input_args()]
    argv += ["-show_format", "-show_streams", str(path)]
    done = _run(argv, path, timeout, limits)
    if done.returncode != 0:
        return None, done.stderr
    try:
        data = json.loads(done.stdout or "{}")
    except json.JSONDecodeError:
        return None, done.stderr or "ffprobe printed invalid JSON"
    if not data.get("format") and not data.get("streams"):
        return None, done.stderr
    return parse_ffprobe_json(data), done.stderr


def _run_ffmpeg_banner(
    ffmpeg: str, path: Path, timeout: float, limits: ResourceLimits | None
) -> tuple[ParsedMedia | None, str]:
    # With no output file ffmpeg prints the input description and exits 1; that exit code is expected.
    done = _run([ffmpeg, "-hide_banner", "-nostdin", *input_args(), "-i", str(path)], path, timeout, limits)
    return parse_ffmpeg_banner(done.stderr), done.stderr


def _failure_from_stderr(path: Path, stderr: str, boxes: BoxScan | None) -> MediaError:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    last = (lines[-1] if lines else "no output").removeprefix(f"{path}: ")
    lowered = stderr.lower()
    if "permission denied" in lowered:
        return MediaUnreadable("cannot be read (permission denied)", path, detail=stderr)
    if "no such file" in lowered:
        return MediaFileMissing("file not found", path, detail=stderr)
    if "is a directory" in lowered:
        return MediaIsDirectory("is a folder, not a media file", path, detail=stderr)
    # A playlist, a concat list or a container that may open other files: refused before it was read.
    playlist = playlist_kind(path)
    if playlist is not None:
        return NotMediaFile(f"is {playlist}, not a video or audio file; add the video itself", path, detail=stderr)
    if "not on whitelist" in lowered:
        return NotMediaFile(
            "is in a container ReelDrop does not accept (one that may refer to other files); convert it to MP4",
            path,
            detail=stderr,
        )
    if boxes is not None:
        return NotMediaFile(f"looks like an MP4/MOV file but cannot be decoded ({last})", path, detail=stderr)
    return NotMediaFile(f"is not a video or audio file ffmpeg can read ({last})", path, detail=stderr)
