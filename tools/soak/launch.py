"""One launch of the app: `python -m app` on the soak's display, in a private home, in a process group
of its own, driven with real X input the way a user would: files added through Qt's own file dialog
(the path typed, then Return), pause / resume / cancel / retry / remove of queue rows, Settings opened
and closed, the tabs switched; the sign-in dialog answered; then Ctrl+Q (a quit confirmation accepted
with Return) or `kill -9`, and whatever is left reaped."""

from __future__ import annotations

import os
import random
import re
import resource
import signal
import subprocess
import time
from contextlib import suppress
from pathlib import Path

from .home import CLIP_NAMES, FOLDER_NAME, Home
from .processes import process_group, wait_for
from .server import SOAK_PASSWORD
from .xdotool import X

MAIN_TITLE = "ReelDrop"

WINDOW_TIMEOUT_S = 60.0  # first window after launch: a cold start on a loaded 2-core machine
DIALOG_TIMEOUT_S = 8.0
QUIT_TIMEOUT_S = 60.0  # Ctrl+Q to exit: the pipeline journals and the built-in server stops
UPLOAD_WAIT_S = 15.0  # how long to wait for an upload to be under way before quitting anyway
KILL_GRACE_S = 3.0  # after kill -9, how long the app's children get to notice before they count as orphans
LINGER_MIN_S, LINGER_MAX_S = 15.0, 40.0  # a launch that stays: the queue finishes and the app idles

# An upload starts with either line and ends with the engine's "uploaded" line.
UPLOAD_STARTED = re.compile(r"uploading while it is encoded|app\.core\.media\.compress: compressed ")
UPLOAD_ENDED = re.compile(r"app\.core\.transfer\.engine: uploaded ")


class LogWatch:
    """What the app wrote to its log folder during this launch (files read from where they were)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.start = {p.name: p.stat().st_size for p in folder.glob("*") if p.is_file()} if folder.exists() else {}

    def text(self) -> str:
        if not self.folder.exists():
            return ""
        parts = []
        for path in sorted(self.folder.glob("*")):
            if not path.is_file():
                continue
            with suppress(OSError), path.open("rb") as handle:
                offset = self.start.get(path.name, 0)
                handle.seek(offset if offset <= path.stat().st_size else 0)
                parts.append(handle.read().decode("utf-8", "replace"))
        return "".join(parts)


class Launch:
    """The app running in one home, driven through X."""

    def __init__(self, x: X, home: Home, run_dir: Path, python: str, extra_env: dict[str, str], rng: random.Random):
        self.x, self.home, self.run_dir, self.rng = x, home, run_dir, rng
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REELDROP_", "QT_", "XDG_"))}
        env.pop("DESKTOP_SESSION", None)  # no desktop: Qt uses its own widget file dialog, as under openbox
        env.update(home.env())
        env.update(extra_env)
        env.update({"DISPLAY": x.env["DISPLAY"], "QT_QPA_PLATFORM": "xcb", "PYTHONFAULTHANDLER": "1"})
        self.logs = LogWatch(home.log_dir)
        self.cores_before = set(home.path.glob("core*"))
        self.stdout = (run_dir / "stdout.txt").open("wb")
        self.stderr = (run_dir / "stderr.txt").open("wb")
        self.process = subprocess.Popen(
            [python, "-m", "app"], cwd=home.path, env=env, stdin=subprocess.DEVNULL,
            stdout=self.stdout, stderr=self.stderr, start_new_session=True, preexec_fn=_allow_core_files,
        )  # fmt: skip
        self.main: int | None = None
        self.signed_in = False
        self.linger_max = LINGER_MAX_S
        self.quit_confirmed = False  # a "still working, quit?" question was answered with Return

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_for_window(self) -> bool:
        def found() -> bool:
            titled = [w for w, name in self.x.windows(self.process.pid).items() if name == MAIN_TITLE]
            if titled:
                # The main window is the widest "ReelDrop" (a message box titled ReelDrop is smaller).
                self.main = max(titled, key=lambda w: self.x.size(w)[0])
            return self.main is not None or not self.alive

        return wait_for(found, WINDOW_TIMEOUT_S, step=0.3) and self.main is not None and self.alive

    def dialogs(self) -> dict[int, str]:
        return {w: n for w, n in self.x.windows(self.process.pid).items() if w != self.main}

    def wait_dialog(self, title: str, timeout: float = DIALOG_TIMEOUT_S) -> int | None:
        found: list[int] = []

        def seen() -> bool:
            found.extend(w for w, name in self.dialogs().items() if name.startswith(title))
            return bool(found) or not self.alive

        wait_for(seen, timeout, step=0.2)
        return found[0] if found else None

    def wait_closed(self, wid: int, timeout: float = DIALOG_TIMEOUT_S) -> bool:
        return wait_for(lambda: not self.alive or wid not in self.dialogs(), timeout, step=0.2)

    def tend_dialogs(self) -> None:
        """Answer what the app shows on its own: the sign-in prompt (a server profile with no token yet)
        gets the password typed and Return; anything else (a problem report) is read and closed."""
        for wid, name in self.dialogs().items():
            if name.startswith("Sign in"):
                self.x.type(wid, SOAK_PASSWORD)
                self.x.key(wid, "Return")
                self.signed_in = self.wait_closed(wid, 30)
            else:
                self.x.key(wid, "Escape")
                if not self.wait_closed(wid, 3):
                    self.x.key(wid, "Return")
                    self.wait_closed(wid, 3)

    # -- what a user does -------------------------------------------------------------------------------
    def act(self, action: str) -> str:
        """Do one action; returns its name as done ('!' when the app did not respond as expected)."""
        assert self.main is not None
        getattr(self, f"_{action}")()
        return action

    def _add_files(self) -> None:
        clips = [self.home.path / name for name in self.rng.sample(CLIP_NAMES, self.rng.randint(1, 3))]
        self._file_dialog(("ctrl+o",), "Add videos", _typed_names(clips, self.rng))

    def _add_folder(self) -> None:
        self._file_dialog(("ctrl+shift+o",), "Add every video", str(self.home.path / FOLDER_NAME))

    def _file_dialog(self, keys: tuple[str, ...], title: str, typed: str) -> None:
        assert self.main is not None
        self.x.key(self.main, *keys)
        dialog = self.wait_dialog(title)
        if dialog is None:
            raise ActionFailed(f"the {title!r} dialog did not open")
        self.x.type(dialog, typed)
        time.sleep(0.2)
        for key in ("Return", "Return", "Escape"):  # a completer popup can take the first Return
            self.x.key(dialog, key)
            if self.wait_closed(dialog, 2.5):
                return
        raise ActionFailed(f"the {title!r} dialog did not close")

    def _select(self, everything: bool) -> None:
        """Focus the queue table with a click in its lower part, then select all or one row by keys."""
        assert self.main is not None
        self.x.key(self.main, "ctrl+1")
        width, height = self.x.size(self.main)
        self.x.click(self.main, width // 2, height - 60)
        if everything:
            self.x.key(self.main, "ctrl+a")
        else:
            self.x.key(self.main, "ctrl+Home", *["Down"] * self.rng.randint(0, 2))

    def _queue_key(self, everything: bool, key: str, confirm: str | None = None) -> None:
        assert self.main is not None
        self._select(everything)
        self.x.key(self.main, key)
        if confirm is not None:
            dialog = self.wait_dialog(confirm, 1.5)  # asked only when started work would be thrown away
            if dialog is not None:
                self.x.key(dialog, self.rng.choice(("Return", "Escape")))  # Stop/Remove, or Keep working
                if not self.wait_closed(dialog, 3):
                    raise ActionFailed(f"the {confirm!r} question did not close")

    def _pause_all(self) -> None:
        self._queue_key(True, "ctrl+p")

    def _pause_one(self) -> None:
        self._queue_key(False, "ctrl+p")

    def _resume_all(self) -> None:
        self._queue_key(True, "ctrl+r")

    def _retry_all(self) -> None:
        self._queue_key(True, "ctrl+shift+r")

    def _cancel_one(self) -> None:
        self._queue_key(False, "ctrl+period", confirm="Cancel")

    def _remove_one(self) -> None:
        self._queue_key(False, "Delete", confirm="Remove")

    def _settings(self) -> None:
        self._dialog_round_trip(("ctrl+comma",), "ReelDrop settings", self.rng.choice(("Escape", "Return")))

    def _about(self) -> None:
        self._dialog_round_trip(("alt+h", "a"), "About ReelDrop", "Escape")

    def _dialog_round_trip(self, keys: tuple[str, ...], title: str, close_key: str) -> None:
        assert self.main is not None
        self.x.key(self.main, *keys)
        dialog = self.wait_dialog(title)
        if dialog is None:
            raise ActionFailed(f"the {title!r} dialog did not open")
        time.sleep(self.rng.uniform(0.2, 1.0))
        self.x.key(dialog, close_key)
        if not self.wait_closed(dialog, 5):
            raise ActionFailed(f"the {title!r} dialog did not close")

    def _tabs(self) -> None:
        assert self.main is not None
        for tab in self.rng.sample(("ctrl+1", "ctrl+2", "ctrl+3"), 3):
            self.x.key(self.main, tab)
            time.sleep(self.rng.uniform(0.1, 0.6))

    def _wait(self) -> None:
        time.sleep(self.rng.uniform(0.5, 3.0))

    def _linger(self) -> None:
        wait_for(lambda: not self.alive, self.rng.uniform(LINGER_MIN_S, self.linger_max), step=0.5)

    # -- the end of a launch ----------------------------------------------------------------------------
    def wait_upload_under_way(self) -> bool:
        """Until the log says an upload has started and not ended (as near to "mid-upload" as the soak sees)."""

        def under_way() -> bool:
            text = self.logs.text()
            return len(UPLOAD_STARTED.findall(text)) > len(UPLOAD_ENDED.findall(text))

        return wait_for(lambda: not self.alive or under_way(), UPLOAD_WAIT_S, 0.3) and self.alive

    def close_dialogs(self) -> None:
        for _round in range(3):
            open_now = self.dialogs()
            if not open_now:
                return
            for wid in open_now:
                self.x.key(wid, "Escape")
            wait_for(lambda: not self.dialogs(), 2, 0.2)

    def quit(self) -> bool:
        """Ctrl+Q; Return to a confirmation if one is asked. True when the app exited in time."""
        assert self.main is not None
        self.x.key(self.main, "ctrl+q")
        deadline = time.monotonic() + QUIT_TIMEOUT_S
        answered: set[int] = set()
        pressed_again = False
        while time.monotonic() < deadline:
            if not self.alive:
                return True
            for wid in self.dialogs():
                if wid not in answered:  # e.g. "2 files are still working. Quit and resume them next time?"
                    answered.add(wid)
                    self.x.key(wid, "Return")
                    self.quit_confirmed = True
            if not pressed_again and time.monotonic() > deadline - QUIT_TIMEOUT_S + 5 and self.main_visible():
                pressed_again = True  # the first Ctrl+Q went to a popup that took the focus
                self.x.key(self.main, "ctrl+q")
            time.sleep(0.2)
        return not self.alive

    def main_visible(self) -> bool:
        return self.main in self.x.windows(self.process.pid)

    def kill(self) -> list[tuple[int, str]]:
        """kill -9 the app alone; returns its children still running KILL_GRACE_S later."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        time.sleep(KILL_GRACE_S)
        return process_group(self.process.pid)

    def reap(self) -> None:
        """End whatever of this launch is left (its process group: the soak created it)."""
        if self.alive:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.stdout.close()
        self.stderr.close()


class ActionFailed(Exception):
    """The app did not do what a user would have seen it do (a dialog did not open or close)."""


def _allow_core_files() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def _typed_names(clips: list[Path], rng: random.Random) -> str:
    """What a user types in Qt's file name box: one full path, or several quoted names."""
    if len(clips) == 1 and rng.random() < 0.5:
        return str(clips[0])
    return " ".join(f'"{clip.name}"' for clip in clips)
