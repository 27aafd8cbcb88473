"""`reeldrop run` end to end, and killed (SIGKILL) at each stage then run again: it continues, not restarts."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.media import probe
from app.core.paths import app_paths
from app.core.settings import Settings, save_settings
from tests.support.files import make_clip, pad_with_free_box, sha256_of
from tests.support.servers import RunningServer, User

CLI = [sys.executable, "-m", "app.cli"]


def cli_env(home: Path, server: RunningServer, user: User) -> dict[str, str]:
    env = dict(os.environ)
    env.update(REELDROP_HOME=str(home), REELDROP_SERVER=server.url, REELDROP_TOKEN=user.token)
    return env


def queue_stage(home: Path) -> str | None:
    """The stage the CLI's pipeline journaled, read from outside as a second process would."""
    files = list((home / "data").glob("queue-*.sqlite3"))
    if not files:
        return None
    try:
        with sqlite3.connect(f"file:{files[0]}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute("SELECT stage FROM items ORDER BY position DESC LIMIT 1").fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


def journaled_parts(home: Path) -> int:
    journal = home / "data" / "journal.sqlite3"
    if not journal.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM parts").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def run_cli(args: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def kill_when(args: list[str], env: dict[str, str], ready, timeout: float = 120) -> None:
    proc = subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None:
                raise AssertionError(f"the CLI ended (exit {proc.returncode}) before the point to kill it")
            if time.monotonic() > deadline:
                raise AssertionError("the point to kill the CLI never came")
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)


def finish(args: list[str], env: dict[str, str]) -> dict:
    done = run_cli([*args, "--json"], env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def manifest_matches(results: Path) -> None:
    manifest = json.loads((results / "manifest.json").read_text())
    entries = manifest["entries"] if isinstance(manifest, dict) else manifest
    checked = 0
    for entry in entries:
        path = results / entry["name"]
        if path.name == "manifest.json" or not path.exists():
            continue
        assert sha256_of(path) == entry["sha256"], entry["name"]
        checked += 1
    assert checked >= 3


def test_run_lands_verified_results(server: RunningServer, user: User, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "beach day.mp4", seconds=3, size="640x360")
    env = cli_env(tmp_path / "home", server, user)
    result = finish(["run", str(clip), "--preset", "480p", "--download", str(tmp_path / "out")], env)
    assert result["stage"] == "done" and result["encoder"]
    results = Path(result["results_dir"])
    assert results == tmp_path / "out" / "beach day"
    assert (results / "renditions").is_dir() and list((results / "thumbnails").glob("*.jpg"))
    manifest_matches(results)
    listed = run_cli(["jobs"], env)
    assert listed.returncode == 0 and result["job_id"] in listed.stdout
    again = run_cli(["download", result["job_id"], str(tmp_path / "again")], env)
    assert again.returncode == 0, again.stderr
    # Named after the file by the one rule of the app, the Jobs tab and the command line (here after the name
    # the server stored the upload under: it has no spaces), not after the job id.
    assert (tmp_path / "again" / "beach_day" / "manifest.json").exists(), again.stdout


@pytest.mark.parametrize(
    ("preset", "source_size", "renditions"),
    [
        ("1080p", "1920x1080", {"1920x1080", "1280x720", "854x480"}),  # the preset's own resolution is made
        ("shorts", "1080x1920", {"1080x1920", "720x1280"}),  # vertical: 1080p's box turned upright
        ("720p", "640x360", {"640x360"}),  # nothing upscaled: the smallest made at the file's own size
    ],
)
def test_the_outputs_follow_the_preset(
    server: RunningServer, user: User, tmp_path: Path, preset: str, source_size: str, renditions: set[str]
) -> None:
    clip = make_clip(tmp_path / "take.mp4", seconds=1, size=source_size)
    env = cli_env(tmp_path / "home", server, user)
    result = finish(["run", str(clip), "--preset", preset, "--download", str(tmp_path / "out")], env)
    assert result["stage"] == "done", result
    made = set()
    for path in (Path(result["results_dir"]) / "renditions").glob("*.mp4"):
        video = probe(path).require_video()  # read back with ffprobe, not taken from the manifest
        made.add(f"{video.display_width}x{video.display_height}")
    assert made == renditions


def test_run_refuses_bad_files_and_goes_on(server: RunningServer, user: User, tmp_path: Path) -> None:
    good = make_clip(tmp_path / "good.mp4", seconds=1, size="320x240")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    env = cli_env(tmp_path / "home", server, user)
    done = run_cli(["run", str(empty), str(good), "--preset", "480p", "--download", str(tmp_path / "o"), "--json"], env)
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    by_name = {Path(line["path"]).name: line for line in lines}
    assert by_name["empty.mp4"]["error_type"] == "empty_file" and "empty.mp4" in by_name["empty.mp4"]["error"]
    assert by_name["good.mp4"]["stage"] == "done"
    bad_preset = run_cli(["run", str(good), "--preset", "4k-ultra"], env)
    assert bad_preset.returncode == 2 and "unknown preset" in bad_preset.stderr


@pytest.mark.parametrize("stage", ["compressing", "uploading", "processing"])
def test_killed_at_a_stage_then_run_again_continues(
    server: RunningServer, user: User, tmp_path: Path, stage: str
) -> None:
    home = tmp_path / "home"
    env = cli_env(home, server, user)
    if stage == "uploading":
        # a multipart upload (the test server's threshold is 6 MiB) slow enough to be caught in the middle
        source = make_clip(tmp_path / "big.mp4", seconds=4, size="1280x720")
        pad_with_free_box(source, 14 * 1024 * 1024)  # bytes players skip
        preset = "original"
        paths = app_paths({"REELDROP_HOME": str(home)})
        save_settings(Settings(bandwidth_limit=4 * 1024 * 1024, concurrency=2), paths.settings_file)
        ready = lambda: journaled_parts(home) >= 1  # noqa: E731
    else:
        seconds = 12 if stage == "compressing" else 3
        source = make_clip(tmp_path / "clip.mp4", seconds=seconds, size="640x360")
        preset = "480p"
        ready = lambda: queue_stage(home) == stage  # noqa: E731
    args = ["run", str(source), "--preset", preset, "--download", str(tmp_path / "out")]
    kill_when(args, env, ready)
    uploads_before = user.call("GET", "/api/upload/stats/overview").json()["uploads_by_status"]
    compressed = list((home / "cache" / "work" / "compressed").rglob("*.mp4"))
    result = finish(args, env)
    assert result["stage"] == "done", result
    manifest_matches(Path(result["results_dir"]))
    stats = user.call("GET", "/api/upload/stats/overview").json()["uploads_by_status"]
    if stage == "processing":
        # nothing was uploaded again: the job the killed run created was followed to its end
        assert sum(stats.values()) == sum(uploads_before.values()) == 1
        assert compressed, "the compressed file was kept for the resumed run"
    if stage == "uploading":
        assert sum(stats.values()) == 1  # the same upload went on: no second presign
    leftovers = [p for p in (home / "cache" / "work").rglob("*") if p.is_file()]
    assert leftovers == [], leftovers
