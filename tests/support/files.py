"""Test files: random bytes with their SHA-256, and tiny real videos made by ffmpeg."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path


def random_file(path: Path, size: int, chunk: int = 1024 * 1024) -> str:
    """Write `size` random bytes to `path` and return their SHA-256 hex digest."""
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        left = size
        while left:
            block = os.urandom(min(chunk, left))
            digest.update(block)
            out.write(block)
            left -= len(block)
    return digest.hexdigest()


def pad_with_free_box(path: Path, size: int) -> Path:
    """Make an MP4 ``size`` bytes bigger without changing what plays: a top-level ``free`` box of random
    bytes. (Random bytes appended bare are read as a box header: about 2 % of the time its four type bytes
    are printable, and the server's check then calls the file incomplete.)"""
    with open(path, "ab") as out:
        out.write((size).to_bytes(4, "big") + b"free")
        left = size - 8
        while left:  # a block at a time: the seeds' own sizes go up to 2 GB
            block = os.urandom(min(left, 16 * 1024 * 1024))
            out.write(block)
            left -= len(block)
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        for block in iter(lambda: src.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def ffmpeg_binary() -> str:
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def make_clip(path: Path, seconds: float = 2, size: str = "320x240", rate: int = 25, audio: bool = True) -> Path:
    """A small H.264/AAC test clip from ffmpeg's own test sources."""
    args = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y"]
    args += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    args += ["-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "64k"]
    args += ["-movflags", "+faststart", str(path)]
    subprocess.run(args, check=True, timeout=120)
    return path
