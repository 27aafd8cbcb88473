"""`kill -9` of the app leaves nothing of it running (issue 12: after a crash its ffmpeg encoded on alone).

The real `reeldrop run`, and the real desktop app (`python -m app`, offscreen), on the "This computer"
profile (the built-in server in its own process, its worker running ffmpeg too) on a five-minute clip,
killed with SIGKILL in the middle of the work: then no ffmpeg and no built-in server they started may
remain.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.support.cli import Cli
from tests.support.files import ffmpeg_binary, make_clip
from tests.support.processes import (
    command_line,
    descendants,
    is_ffmpeg,
    is_python_spawn_child,
    kill_all,
    kill_hard,
    wait_all_ended,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inspects real processes (psutil)")

WORK_STARTS_WITHIN_S = 180  # the built-in server starting, the upload, then the server's job


@pytest.fixture(scope="module")
def five_minute_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 s of 640x360 video and audio: minutes of encoding for the app and for the server's worker.
    Made in about a second: 10 s encoded once, then repeated by stream copy."""
    folder = tmp_path_factory.mktemp("long")
    piece = make_clip(folder / "piece.mp4", seconds=10, size="640x360")
    clip = folder / "five minutes.mp4"
    copy_thirty_times = ["-stream_loop", "29", "-i", str(piece), "-c", "copy", "-movflags", "+faststart", str(clip)]
    subprocess.run(
        [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", *copy_thirty_times], check=True, timeout=120
    )
    return clip


def start_reeldrop_run(tmp_path: Path, clip: Path, preset: str) -> subprocess.Popen[str]:
    cli = Cli(tmp_path / "home")  # no REELDROP_SERVER: the default profile, "This computer"
    return subprocess.Popen(
        cli.command("run", str(clip), "--preset", preset, "--download", str(tmp_path / "results")),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=cli.env(),
    )


def kill_once(app: subprocess.Popen[str], ready: Callable[[], list[psutil.Process]], what: str) -> list[psutil.Process]:
    """Wait until ``ready`` finds the processes it looks for, ``kill -9`` the app, and return every process
    the app had started then (those included)."""

    def reached() -> list[psutil.Process]:
        if app.poll() is not None:
            raise AssertionError(f"the app ended (exit {app.returncode}) before {what}")
        return ready()

    looked_for = wait_until(reached, timeout=WORK_STARTS_WITHIN_S, interval=0.1, what=what)
    started = descendants(app.pid)
    kill_hard(app)
    return [*looked_for, *(p for p in started if p not in looked_for)]


def server_of(app: subprocess.Popen[str]) -> psutil.Process | None:
    found = descendants(app.pid, is_python_spawn_child)
    return found[0] if found else None


def encodes_under(parent: psutil.Process) -> list[psutil.Process]:
    """The ffmpeg encodes below ``parent`` (run_ffmpeg's, with ``-progress``), not the short probes."""
    return [p for p in descendants(parent.pid, is_ffmpeg) if "-progress" in command_line(p)]


def compressing_beside_the_server(app: subprocess.Popen[str], clip: Path) -> Callable[[], list[psutil.Process]]:
    def found() -> list[psutil.Process]:
        server = server_of(app)
        compressing = [p for p in encodes_under(psutil.Process(app.pid)) if str(clip) in command_line(p)]
        return [*compressing, server] if compressing and server is not None else []

    return found


def test_killing_the_app_while_it_compresses_ends_its_ffmpeg_and_its_server(
    tmp_path: Path, five_minute_clip: Path
) -> None:
    app = start_reeldrop_run(tmp_path, five_minute_clip, "480p")
    try:
        started = kill_once(app, compressing_beside_the_server(app, five_minute_clip), "the compression")
        wait_all_ended(started, "the app's ffmpeg and built-in server")
    finally:
        app.kill()
        app.wait(timeout=30)


def test_killing_the_desktop_app_while_it_compresses_ends_its_ffmpeg_and_its_server(
    tmp_path: Path, five_minute_clip: Path
) -> None:
    # The window continues the queue it finds at launch: here, the one a killed `reeldrop run` left.
    # (It starts ffmpeg from a pool thread and the built-in server from its bridge's thread.)
    queued = start_reeldrop_run(tmp_path, five_minute_clip, "480p")
    try:
        kill_all(kill_once(queued, compressing_beside_the_server(queued, five_minute_clip), "the compression"))
    finally:
        queued.kill()
        queued.wait(timeout=30)
    env = Cli(tmp_path / "home").env()
    private = tmp_path / "user"
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(private), XDG_CONFIG_HOME=str(private / "config"))
    env.update(XDG_DATA_HOME=str(private / "data"), XDG_CACHE_HOME=str(private / "cache"))
    app = subprocess.Popen(
        [sys.executable, "-m", "app"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        started = kill_once(app, compressing_beside_the_server(app, five_minute_clip), "the window's compression")
        wait_all_ended(started, "the desktop app's ffmpeg and built-in server")
    finally:
        app.kill()
        app.wait(timeout=30)


def test_killing_the_app_while_its_server_encodes_ends_the_server_and_its_ffmpeg(
    tmp_path: Path, five_minute_clip: Path
) -> None:
    # "original" copies the streams: the app's own step takes a moment, the server's renditions minutes.
    app = start_reeldrop_run(tmp_path, five_minute_clip, "original")
    try:

        def server_encoding() -> list[psutil.Process]:
            server = server_of(app)
            encoding = [p for p in encodes_under(server) if "libx264" in command_line(p)] if server else []
            return [server, *encoding] if server is not None and encoding else []

        started = kill_once(app, server_encoding, "the built-in server's worker to encode")
        wait_all_ended(started, "the built-in server and its worker's ffmpeg")
    finally:
        app.kill()
        app.wait(timeout=30)
