"""Before Qt starts on Linux: can its X11 (xcb) platform plugin load? If not, say which packages to install.

Without, say, libxcb-cursor0 (missing on fresh Ubuntu desktops), Qt prints "could not load the Qt platform
plugin xcb" and aborts with a core dump. Loading the plugin ourselves first (the dynamic linker names the
first missing library, `ldd` all of them) turns that into a sentence and exit status 1. Nothing here
imports Qt: a missing libEGL would already fail the import of PySide6's modules.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# The libraries Qt's xcb plugin needs that a desktop may lack, and the packages that ship them.
PACKAGES: dict[str, tuple[str, str]] = {  # soname -> (Debian/Ubuntu, Fedora)
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
}
_SONAME = re.compile(r"(lib[\w.+-]+\.so(?:\.\d+)*)")


@dataclass(frozen=True)
class MissingLibraries:
    plugin: Path
    libraries: tuple[str, ...]  # sonames; may be empty when the loader's message named none
    loader_message: str

    def sentence(self) -> str:
        debian = sorted({PACKAGES[lib][0] for lib in self.libraries if lib in PACKAGES})
        fedora = sorted({PACKAGES[lib][1] for lib in self.libraries if lib in PACKAGES})
        lines = ["ReelDrop cannot open its window: Qt's X11 platform plugin cannot load."]
        if self.libraries:
            lines.append("Missing system libraries: " + ", ".join(self.libraries) + ".")
        if debian:
            lines.append("On Debian/Ubuntu:  sudo apt install " + " ".join(debian))
            lines.append("On Fedora:         sudo dnf install " + " ".join(fedora))
        unknown = [lib for lib in self.libraries if lib not in PACKAGES]
        if unknown or not self.libraries:
            lines.append(f"The system's loader said: {self.loader_message}")
        lines.append("The command line (`reeldrop`) works without them.")
        return "\n".join(lines)


def xcb_will_be_used(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Qt picks xcb on Linux unless told otherwise or on a Wayland session (where it prefers Wayland)."""
    if not sys.platform.startswith("linux"):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if chosen:
        return chosen == "xcb"
    return not environ.get("WAYLAND_DISPLAY")


def xcb_plugin() -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        plugin = Path(folder) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.exists():
            return plugin
    return None  # a build of Qt elsewhere (distribution packages, a frozen layout): let Qt say


def missing_for_xcb(plugin: Path | None = None) -> MissingLibraries | None:
    """None when the xcb plugin loads (or cannot be found to check); else what is missing."""
    plugin = plugin or xcb_plugin()
    if plugin is None:
        return None
    try:
        ctypes.CDLL(str(plugin))
    except OSError as error:
        message = str(error)
        missing = _not_found_by_ldd(plugin) or _SONAME.findall(message.replace(str(plugin), ""))[:1]
        return MissingLibraries(plugin, tuple(dict.fromkeys(missing)), message)
    return None


def _not_found_by_ldd(plugin: Path) -> list[str]:
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    try:
        listing = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.split("=>")[0].strip() for line in listing.splitlines() if "not found" in line]


def exit_if_window_cannot_open() -> None:
    """Called before anything creates a QApplication: print what to install and exit 1."""
    if not xcb_will_be_used():
        return
    problem = missing_for_xcb()
    if problem is not None:
        print(problem.sentence(), file=sys.stderr, flush=True)
        raise SystemExit(1)
