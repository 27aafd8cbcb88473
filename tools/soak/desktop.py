"""The private desktop every launch runs on: Xvfb with openbox (a real window manager, so dialogs get
focus and stacking as on a desktop), and a D-Bus session of the soak's own with a throwaway
gnome-keyring, where the app keeps a server's token in a real Secret Service (never on disk in plain
text, and no developer's keyring or bus is touched)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .processes import SoakError, started, stop_process, wait_for

KEYRING_TOOLS = ("dbus-daemon", "gnome-keyring-daemon")
SCREEN = "1280x800x24"
FIRST_DISPLAY = 57  # well above the :0/:99 that desktops and xvfb-run take


def free_display() -> int:
    for number in range(FIRST_DISPLAY, FIRST_DISPLAY + 40):
        if not Path(f"/tmp/.X{number}-lock").exists() and not Path(f"/tmp/.X11-unix/X{number}").exists():
            return number
    raise SoakError("no free X display between :57 and :96")


@contextmanager
def desktop(root: Path) -> Iterator[str]:
    """Xvfb plus openbox (a real window manager: dialogs get focus and stacking as on a desktop)."""
    for attempt in range(5):  # another X server may take the number between the check and the start
        display = f":{free_display()}"
        xvfb_log, wm_log = root / f"xvfb-{attempt}.log", root / f"openbox-{attempt}.log"
        with started(["Xvfb", display, "-screen", "0", SCREEN, "-nolisten", "tcp"], xvfb_log) as xvfb:
            env = {**os.environ, "DISPLAY": display}
            if not wait_for(lambda: _x_answers(env) or xvfb.poll() is not None, 15) or xvfb.poll() is not None:  # noqa: B023
                continue
            with started(["openbox"], wm_log, env) as openbox:
                if not wait_for(lambda: _wm_running(env) or openbox.poll() is not None, 15) or openbox.poll():  # noqa: B023
                    continue
                yield display
                return
    raise SoakError(f"Xvfb with openbox did not start (see {root}/xvfb-*.log and openbox-*.log)")


def _x_answers(env: dict[str, str]) -> bool:
    return subprocess.run(["xprop", "-root", "-len", "0"], env=env, capture_output=True, timeout=5).returncode == 0


def _wm_running(env: dict[str, str]) -> bool:
    found = subprocess.run(["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"], env=env, capture_output=True, timeout=5)
    return b"window id" in found.stdout


@contextmanager
def private_keyring(root: Path) -> Iterator[dict[str, str]]:
    """A D-Bus session of our own with an unlocked throwaway gnome-keyring (as tools/test.sh does), so the
    app keeps its token in a real Secret Service and no developer's keyring or bus is ever touched.
    Without those programs the app falls back to memory and the soak signs in at every server launch."""
    if any(shutil.which(tool) is None for tool in KEYRING_TOOLS):
        yield {"DBUS_SESSION_BUS_ADDRESS": "disabled:"}
        return
    socket_path = root / "bus"
    address = f"unix:path={socket_path}"
    argv = ["dbus-daemon", "--session", "--nofork", "--nopidfile", f"--address={address}"]
    with started(argv, root / "dbus.log") as bus:
        if not wait_for(lambda: bus.poll() is not None or socket_path.exists(), 10) or bus.poll() is not None:
            raise SoakError(f"dbus-daemon did not start (see {root / 'dbus.log'})")
        home = root / "keyring-home"
        home.mkdir()
        env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": address, "HOME": str(home), "XDG_DATA_HOME": str(home)}
        argv = ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"]
        with (root / "keyring.log").open("wb") as out:
            keyring = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            assert keyring.stdin is not None
            keyring.stdin.write(b"soak-keyring")
            keyring.stdin.close()
            time.sleep(1.0)  # it registers org.freedesktop.secrets on the bus right after reading the password
            yield {"DBUS_SESSION_BUS_ADDRESS": address}
        finally:
            stop_process(keyring)
