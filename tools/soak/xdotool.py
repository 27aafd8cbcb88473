"""Real X input and window queries on the soak's display, through xdotool (and imagemagick's import for
screenshots); every call is bounded, so a hung X server or app cannot hang the soak."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from contextlib import suppress
from pathlib import Path

XDOTOOL_TIMEOUT_S = 10.0


class X:
    """xdotool and friends on one display; every call is bounded."""

    def __init__(self, display: str) -> None:
        self.env = {**os.environ, "DISPLAY": display}

    def run(self, *args: str) -> str:
        try:
            done = subprocess.run(
                ["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=XDOTOOL_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            return ""
        return done.stdout

    def windows(self, pid: int) -> dict[int, str]:
        """The app's visible, named, real-sized windows (menus, tooltips and Qt's helper windows left out)."""
        found = {}
        for line in self.run("search", "--onlyvisible", "--pid", str(pid), "--name", ".").split():
            wid = int(line)
            width, height = self.size(wid)
            if width > 50 and height > 50:
                found[wid] = self.run("getwindowname", str(wid)).strip()
        return found

    def size(self, wid: int) -> tuple[int, int]:
        geometry = dict(i.split("=", 1) for i in self.run("getwindowgeometry", "--shell", str(wid)).split() if "=" in i)
        return int(geometry.get("WIDTH", 0)), int(geometry.get("HEIGHT", 0))

    def activate(self, wid: int) -> None:
        self.run("windowactivate", "--sync", str(wid))
        time.sleep(0.1)

    def key(self, wid: int, *keys: str) -> None:
        self.activate(wid)
        for key in keys:
            self.run("key", key)
            time.sleep(0.08)

    def type(self, wid: int, text: str) -> None:
        self.activate(wid)
        self.run("type", "--delay", "12", text)

    def click(self, wid: int, x: int, y: int, button: str = "1") -> None:
        self.activate(wid)
        self.run("mousemove", "--window", str(wid), str(x), str(y), "click", button)
        time.sleep(0.15)

    def screenshot(self, target: Path) -> Path | None:
        if shutil.which("import") is None:
            return None
        with suppress(subprocess.TimeoutExpired):
            subprocess.run(["import", "-window", "root", str(target)], env=self.env, capture_output=True, timeout=20)
        return target if target.exists() else None
