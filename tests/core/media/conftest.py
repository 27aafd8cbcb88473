"""Real clips for the media tests, generated once per session with real ffmpeg (2 s, small)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core.media import FfmpegTools, find_ffmpeg, probe
from app.core.media.ffmpeg import clear_ffmpeg_cache

_GEN_TIMEOUT_S = 120


@dataclass(frozen=True)
class Clips:
    small: Path  # 320x240, 25 fps, 2 s, H.264 + mono AAC 44.1 kHz
    medium: Path  # 960x540, 25 fps, 2 s, H.264 + stereo AAC 48 kHz
    rotated: Path  # small with a 90° display matrix: displays as 240x320
    video_only: Path  # 320x240, no audio
    audio_only: Path  # AAC in .m4a
    still_image: Path  # a PNG
    text_as_mp4: Path  # a text file renamed .mp4
    empty: Path  # 0 bytes
    truncated: Path  # first 40 % of small (index at the end, so it is gone)
    truncated_faststart: Path  # first 60 % of a faststart copy (index present, media cut)
    folder: Path


def _ffmpeg(tools: FfmpegTools, *args: str) -> subprocess.Popen[bytes]:
    argv = [tools.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        _, stderr = process.communicate(timeout=_GEN_TIMEOUT_S)
        assert process.returncode == 0, stderr.decode(errors="replace")


def _h264(*extra: str) -> list[str]:
    return ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", *extra]


@pytest.fixture(scope="session")
def tools() -> FfmpegTools:
    clear_ffmpeg_cache()
    return find_ffmpeg()


@pytest.fixture(scope="session")
def bundled_tools() -> FfmpegTools:
    """The imageio-ffmpeg binary alone (no ffprobe), regardless of what is on PATH."""
    saved = {name: os.environ.pop(name, None) for name in ("REELDROP_FFMPEG", "REELDROP_FFPROBE")}
    try:
        clear_ffmpeg_cache()
        return find_ffmpeg(allow_system=False)
    finally:
        for name, value in saved.items():
            if value is not None:
                os.environ[name] = value
        clear_ffmpeg_cache()


def _testsrc(size: str) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25"]


def _sine(sample_rate: int) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={sample_rate}"]


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory, tools: FfmpegTools) -> Clips:
    folder = tmp_path_factory.mktemp("clips")
    small, medium = folder / "small.mp4", folder / "medium.mp4"
    two_seconds = ["-t", "2", "-shortest"]
    first = [
        _ffmpeg(tools, *_testsrc("320x240"), *_sine(44100), *two_seconds, *_h264(), "-c:a", "aac", str(small)),
        _ffmpeg(
            tools,
            *_testsrc("960x540"),
            *_sine(48000),
            *two_seconds,
            *_h264(),
            "-c:a",
            "aac",
            "-ac",
            "2",
            str(medium),
        ),
        _ffmpeg(tools, *_testsrc("320x240"), "-t", "2", *_h264(), str(folder / "video_only.mp4")),
        _ffmpeg(tools, *_sine(44100), "-t", "2", "-c:a", "aac", str(folder / "audio_only.m4a")),
        _ffmpeg(tools, *_testsrc("64x64"), "-frames:v", "1", str(folder / "still.png")),
    ]
    _wait_all(first)
    faststart = folder / "faststart.mp4"
    _wait_all([_ffmpeg(tools, "-i", str(small), "-c", "copy", "-movflags", "+faststart", str(faststart))])
    rotated = _make_rotated(tools, small, folder / "rotated.mp4")

    text = folder / "text_as.mp4"
    text.write_text("This is a text file with a video extension.\n" * 20)
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    data = small.read_bytes()
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(data[: len(data) * 4 // 10])
    fs_data = faststart.read_bytes()
    truncated_faststart = folder / "truncated_faststart.mp4"
    truncated_faststart.write_bytes(fs_data[: len(fs_data) * 6 // 10])
    a_folder = folder / "a_folder.mp4"
    a_folder.mkdir()
    return Clips(
        small=small,
        medium=medium,
        rotated=rotated,
        video_only=folder / "video_only.mp4",
        audio_only=folder / "audio_only.m4a",
        still_image=folder / "still.png",
        text_as_mp4=text,
        empty=empty,
        truncated=truncated,
        truncated_faststart=truncated_faststart,
        folder=a_folder,
    )


def _make_rotated(tools: FfmpegTools, source: Path, target: Path) -> Path:
    # ffmpeg < 6 writes a display matrix from the "rotate" tag; ffmpeg >= 6 has -display_rotation.
    attempts = [
        ["-i", str(source), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(target)],
        ["-display_rotation:v:0", "90", "-i", str(source), "-c", "copy", str(target)],
    ]
    for args in attempts:
        process = _ffmpeg(tools, *args)
        process.communicate(timeout=_GEN_TIMEOUT_S)
        if process.returncode == 0 and probe(target, tools=tools).video.rotation in (90, 270):
            return target
    raise AssertionError(f"this ffmpeg ({tools.version}) could not write a rotated test clip")


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory: pytest.TempPathFactory, tools: FfmpegTools) -> Path:
    """20 s at 640x360: long enough that an encode is still running when we cancel it."""
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    args = [*_testsrc("640x360"), *_sine(44100), "-t", "20", "-shortest", *_h264(), "-c:a", "aac"]
    _wait_all([_ffmpeg(tools, *args, str(path))])
    return path
