"""What a launch finds on disk: a private HOME with the XDG folders inside it, the test clips (hard-linked
in, and in a folder for "add every video"), and settings with a bandwidth limit and, for the server
backend, a saved profile that points at the soak's server. A home is sometimes reused, so a launch also
meets a queue the previous one saved."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .plan import Backend
from .server import SOAK_USER

CLIP_NAMES = ("clip one.mp4", "clip two.mp4", "clip three.mp4")
FOLDER_NAME = "Footage"
SERVER_PROFILE = "Soak server"


def make_clips(folder: Path) -> list[Path]:
    """A few seconds of moving test picture, noise (so it does not compress to nothing) and a tone."""
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for number, name in enumerate(CLIP_NAMES):
        clip = folder / name
        video = f"testsrc2=size=854x480:rate=30:duration={3 + number}"
        audio = f"sine=frequency={330 + 110 * number}:duration={3 + number}"
        argv = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio,
                "-vf", "noise=alls=20:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "5M",
                "-c:a", "aac", "-shortest", str(clip)]  # fmt: skip
        subprocess.run(argv, check=True, timeout=120)
        clips.append(clip)
    return clips


@dataclass
class Home:
    """A private HOME with the XDG folders inside it, the clips, and (for the server) a saved profile."""

    path: Path
    backend: Backend
    launches: int = 0

    @property
    def log_dir(self) -> Path:
        return self.path / ".local" / "state" / "ReelDrop" / "log"

    def env(self) -> dict[str, str]:
        return {
            "HOME": str(self.path),
            "XDG_CONFIG_HOME": str(self.path / ".config"),
            "XDG_DATA_HOME": str(self.path / ".local" / "share"),
            "XDG_CACHE_HOME": str(self.path / ".cache"),
            "XDG_STATE_HOME": str(self.path / ".local" / "state"),
            "XDG_RUNTIME_DIR": str(self.path / ".runtime"),
        }

    @classmethod
    def create(cls, path: Path, backend: Backend, clips: list[Path], server_url: str | None, limit: int) -> Home:
        home = cls(path, backend)
        (path / ".runtime").mkdir(parents=True, mode=0o700)
        (path / FOLDER_NAME).mkdir()
        for clip in clips:  # hard links: the same bytes, without copying them for every home
            os.link(clip, path / clip.name)
            os.link(clip, path / FOLDER_NAME / clip.name)
        settings: dict[str, object] = {"version": 1, "bandwidth_limit": limit}
        if backend is Backend.SERVER:
            settings["profiles"] = [
                {"name": "This computer", "server_url": None, "username": ""},
                {"name": SERVER_PROFILE, "server_url": server_url, "username": SOAK_USER},
            ]
            settings["active_profile"] = SERVER_PROFILE
        config = path / ".config" / "ReelDrop"
        config.mkdir(parents=True)
        (config / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
        return home
