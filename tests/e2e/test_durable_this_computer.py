""" "This computer" is durable: a restart of the app and its built-in server is invisible to the files.

The real `reeldrop run` on the built-in backend (no REELDROP_SERVER: the default profile), in a private
REELDROP_HOME, is killed with SIGKILL together with its whole process group (so its built-in server dies
with it, mid-request) once during the upload, once while the server processes the file, and once during the
results download; then the same command is run again. Each file must reach Done by itself: the upload
resumes (one upload on the server), the job the killed run created is followed again (one job), the results
download resumes from the bytes on disk, and the extracted files match the results ZIP's manifest. Nothing
is logged at ERROR, and no traceback, for the kill. A finished job's results also download again after the
built-in server restarted (its object store keeps them on disk). The desktop app, killed with its server while
the job is processed, finishes the file at its next launch with no click.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.support.cli import Cli, json_lines
from tests.support.files import make_clip, pad_with_free_box, sha256_of
from tests.support.processes import descendants, is_python_spawn_child, wait_all_ended
from tests.support.waiting import wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kills real process groups")

POINT_REACHED_WITHIN_S = 180  # the built-in server starting, the encode, the upload, the server's job
FINISH_WITHIN_S = 420  # the relaunched run: the server starting again, then whatever is left of the work


# -- reading what the run left, from outside ----------------------------------------------------------
def _read(db_file: Path, query: str) -> list[tuple[Any, ...]]:
    if not db_file.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=5) as db:
            return db.execute(query).fetchall()
    except sqlite3.Error:
        return []  # created but not initialised yet


def queue_item(home: Path) -> dict[str, Any] | None:
    """The CLI's pipeline journal row of the (only) queued file."""
    files = sorted((home / "data").glob("queue-*.sqlite3"))
    if not files:
        return None
    rows = _read(files[0], "SELECT stage, upload_id, job_id, compressed_path FROM items ORDER BY position DESC")
    if not rows:
        return None
    stage, upload_id, job_id, compressed = rows[0]
    return {"stage": stage, "upload_id": upload_id, "job_id": job_id, "compressed_path": compressed}


def queue_stage(home: Path) -> str | None:
    item = queue_item(home)
    return item["stage"] if item else None


def server_db(home: Path) -> Path:
    return home / "data" / "server" / "reeldrop-server.sqlite3"


def server_rows(home: Path, table: str) -> list[tuple[Any, ...]]:
    return _read(server_db(home), f"SELECT id, status FROM {table}")


def journaled_parts(home: Path) -> int:
    rows = _read(
        home / "data" / "journal.sqlite3",
        "SELECT COUNT(*) FROM parts JOIN uploads USING (upload_id) WHERE uploads.state = 'uploading'",
    )
    return int(rows[0][0]) if rows else 0


def partial_zip_bytes(home: Path) -> int:
    parts = list((home / "cache" / "work" / "results").glob("*.zip.part"))
    return max((p.stat().st_size for p in parts), default=0)


def log_text(home: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted((home / "log").glob("reeldrop-cli.log*")))


# -- running and killing the real command -------------------------------------------------------------
def kill_group_when(cli: Cli, args: list[str], ready: Callable[[], Any], what: str) -> None:
    """Start `reeldrop ARGS` in a process group of its own, wait (bounded) for ``ready``, then SIGKILL the
    whole group: the CLI and its built-in server die at the same instant. Returns once all of them ended."""
    process = subprocess.Popen(
        cli.command(*args),
        env=cli.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_while_running(process, ready, what)
        started: list[psutil.Process] = [psutil.Process(process.pid), *descendants(process.pid)]
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            with_group_killed(process)
        process.wait(timeout=30)
    wait_all_ended(started, "the killed CLI and its built-in server")


def wait_while_running(
    process: subprocess.Popen[bytes], ready: Callable[[], Any], what: str, timeout: float = POINT_REACHED_WITHIN_S
) -> None:
    """Wait (bounded) for ``ready``; fail at once, saying so, if the process ends first."""

    def reached() -> Any:
        if process.poll() is not None:
            raise AssertionError(f"process {process.pid} ended (exit {process.returncode}) before {what}")
        return ready()

    wait_until(reached, timeout=timeout, interval=0.05, what=what)


def with_group_killed(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def finish(cli: Cli, args: list[str]) -> dict[str, Any]:
    """Run the same command again, to its end; the file's final JSON line."""
    done = cli.run(*args, "--json", timeout=FINISH_WITHIN_S)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    lines = json_lines(done.stdout)
    assert lines, done.stdout
    return lines[-1]


def manifest_matches(results: Path) -> int:
    """Every file the manifest lists is there with its SHA-256; returns how many were checked."""
    manifest = json.loads((results / "manifest.json").read_text())
    checked = 0
    for entry in manifest["entries"]:
        path = results / entry["name"]
        assert path.is_file(), f"{entry['name']} is missing from {results}"
        assert sha256_of(path) == entry["sha256"], entry["name"]
        checked += 1
    assert checked >= 3, manifest
    return checked


def nothing_went_wrong_in_the_log(home: Path, text: str | None = None) -> None:
    """No ERROR, CRITICAL or traceback in the CLI's log (or in ``text``, another log's)."""
    text = log_text(home) if text is None else text
    bad = [line for line in text.splitlines() if " ERROR " in line or " CRITICAL " in line]
    assert not bad, "\n".join(bad)
    assert "Traceback" not in text, text[text.index("Traceback") - 2000 :][:6000]


def no_work_left(home: Path) -> None:
    leftovers = [p for p in (home / "cache" / "work").rglob("*") if p.is_file()]
    assert leftovers == [], leftovers


def run_args(source: Path, preset: str, out: Path, *extra: str) -> list[str]:
    return ["run", str(source), "--preset", preset, "--download", str(out), *extra]


# -- the three kills ------------------------------------------------------------------------------------
def test_killed_during_the_upload_the_same_upload_resumes(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "home")
    # A multipart upload (over 16 MiB asks for parts) slowed to last several seconds: 4 s of video with
    # trailing bytes ffmpeg ignores, sent as it is ("original").
    source = make_clip(tmp_path / "big.mp4", seconds=4, size="1280x720")
    pad_with_free_box(source, 22 * 1024 * 1024)
    args = run_args(source, "original", tmp_path / "out", "--limit-rate", "2M")
    kill_group_when(cli, args, lambda: journaled_parts(cli.home) >= 1, "a part of the upload was stored")
    assert queue_stage(cli.home) == "uploading"
    before = queue_item(cli.home)

    result = finish(cli, args[:-2])  # the rest at full speed: the same file and preset, the same queued item

    assert result["stage"] == "done", result
    manifest_matches(Path(result["results_dir"]))
    assert Path(result["results_dir"]) == tmp_path / "out" / "big"
    assert len(server_rows(cli.home, "uploads")) == 1, "the upload went on, it did not start again"
    assert len(server_rows(cli.home, "jobs")) == 1
    assert before is not None and "resuming upload" in log_text(cli.home)
    nothing_went_wrong_in_the_log(cli.home)
    no_work_left(cli.home)


def test_killed_while_the_server_processes_the_same_job_is_followed(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "home")
    source = make_clip(tmp_path / "clip2.mp4", seconds=4, size="640x360")
    args = run_args(source, "480p", tmp_path / "out")

    def server_processing() -> bool:
        jobs = server_rows(cli.home, "jobs")
        return queue_stage(cli.home) == "processing" and any(status == "processing" for _, status in jobs)

    kill_group_when(cli, args, server_processing, "the built-in server's worker processing the job")
    before = queue_item(cli.home)
    assert before is not None and before["job_id"] and before["compressed_path"]
    assert Path(before["compressed_path"]).is_file(), "the compressed copy is kept until the results are home"

    result = finish(cli, args)

    assert result["stage"] == "done", result
    assert result["job_id"] == before["job_id"], "the job the killed run created was followed to its end"
    manifest_matches(Path(result["results_dir"]))
    assert len(server_rows(cli.home, "uploads")) == 1, "nothing was uploaded again"
    assert [job_id for job_id, _ in server_rows(cli.home, "jobs")] == [before["job_id"]]
    nothing_went_wrong_in_the_log(cli.home)
    no_work_left(cli.home)


def test_killed_during_the_results_download_it_resumes_and_downloads_again_later(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "home")
    source = make_clip(tmp_path / "holiday.mp4", seconds=4, size="640x360")
    # Slow enough that the results ZIP (some MB) takes seconds to come down.
    args = run_args(source, "480p", tmp_path / "out", "--limit-rate", "256K")

    def downloading_a_while() -> bool:
        return queue_stage(cli.home) == "downloading" and partial_zip_bytes(cli.home) >= 256 * 1024

    kill_group_when(cli, args, downloading_a_while, "a part of the results ZIP was downloaded")
    before = queue_item(cli.home)
    assert before is not None and before["stage"] == "downloading"
    kept = partial_zip_bytes(cli.home)

    result = finish(cli, args[:-2])  # the rest at full speed

    assert result["stage"] == "done", result
    assert result["job_id"] == before["job_id"]
    results = Path(result["results_dir"])
    assert results == tmp_path / "out" / "holiday"
    manifest_matches(results)
    resumed = [line for line in log_text(cli.home).splitlines() if "resuming at" in line]
    assert resumed, "the download went on from the bytes the killed run had received"
    assert int(resumed[-1].split("resuming at ")[1].split()[0]) >= kept // 2
    nothing_went_wrong_in_the_log(cli.home)
    no_work_left(cli.home)

    # The built-in server was restarted by that run, and by this one: the results are still there.
    again = cli.run("download", result["job_id"], str(tmp_path / "again"), timeout=FINISH_WITHIN_S)
    assert again.returncode == 0, again.stderr
    (unpacked,) = (tmp_path / "again").iterdir()  # one folder, named after the file (not the job id)
    assert unpacked.name != result["job_id"]
    manifest_matches(unpacked)
    nothing_went_wrong_in_the_log(cli.home)


# -- the built-in server alone killed under a run that goes on -------------------------------------------
def run_killing_the_server_when(cli: Cli, args: list[str], ready: Callable[[], Any], what: str) -> dict[str, Any]:
    """Start `reeldrop ARGS --json`, wait (bounded) for ``ready``, SIGKILL only its built-in server, and let
    the same run go on to its end; the file's final JSON line."""
    process = subprocess.Popen(
        cli.command(*args, "--json"),
        env=cli.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_while_running(process, ready, what)
        servers = descendants(process.pid, is_python_spawn_child)
        assert len(servers) == 1, servers
        servers[0].kill()
        out, err = process.communicate(timeout=FINISH_WITHIN_S)
    finally:
        if process.poll() is None:
            with_group_killed(process)
            process.wait(timeout=30)
    assert process.returncode == 0, f"exit {process.returncode}\n{out.decode()}\n{err.decode()[-3000:]}"
    assert b"Traceback" not in err, err.decode()[-3000:]
    lines = json_lines(out.decode())
    assert lines, out
    return lines[-1]


def test_the_server_killed_while_it_processes_the_run_follows_its_job_to_the_end(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "home")
    source = make_clip(tmp_path / "interview.mp4", seconds=4, size="640x360")

    def server_processing() -> bool:
        return any(status == "processing" for _, status in server_rows(cli.home, "jobs"))

    result = run_killing_the_server_when(
        cli, run_args(source, "480p", tmp_path / "out"), server_processing, "the server processing the job"
    )

    assert result["stage"] == "done", result
    manifest_matches(Path(result["results_dir"]))
    assert len(server_rows(cli.home, "uploads")) == 1, "nothing was uploaded again"
    assert len(server_rows(cli.home, "jobs")) == 1, "the same job was processed again, not a new one"
    assert "starting it again" in log_text(cli.home)
    nothing_went_wrong_in_the_log(cli.home)
    no_work_left(cli.home)


def test_the_server_killed_as_the_results_download_starts_the_run_still_brings_them_home(tmp_path: Path) -> None:
    # Mid-body cuts are the group kill's test above: results this small fit in loopback's socket buffers, so a
    # server killed after its first bytes has already sent them all. Here the server dies as the download
    # begins; its results URL, signed before the kill, must work on the server that comes back.
    cli = Cli(tmp_path / "home")
    source = make_clip(tmp_path / "b-roll.mp4", seconds=4, size="640x360")

    result = run_killing_the_server_when(
        cli,
        run_args(source, "480p", tmp_path / "out", "--limit-rate", "256K"),
        lambda: queue_stage(cli.home) == "downloading",
        "the results download starting",
    )

    assert result["stage"] == "done", result
    manifest_matches(Path(result["results_dir"]))
    assert len(server_rows(cli.home, "jobs")) == 1
    assert "starting it again" in log_text(cli.home)
    nothing_went_wrong_in_the_log(cli.home)
    no_work_left(cli.home)


# -- the desktop app ------------------------------------------------------------------------------------
def start_desktop_app(cli: Cli, private: Path) -> subprocess.Popen[bytes]:
    """The real window (`python -m app`, offscreen) on the same REELDROP_HOME, in a process group of its own;
    at launch it continues the queue it finds there."""
    env = cli.env()
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(private), XDG_CONFIG_HOME=str(private / "config"))
    env.update(XDG_DATA_HOME=str(private / "data"), XDG_CACHE_HOME=str(private / "cache"))
    return subprocess.Popen(
        [sys.executable, "-m", "app"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip


def desktop_log_text(home: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted((home / "log").glob("reeldrop.log*")))


def test_the_desktop_app_killed_while_the_server_processes_finishes_the_file_at_its_next_launch(
    tmp_path: Path,
) -> None:
    cli = Cli(tmp_path / "home")
    source = make_clip(tmp_path / "vlog.mp4", seconds=4, size="640x360")
    # The file is queued the way a script would: `reeldrop run`, killed as soon as it compresses; from then on
    # only the window works on it.
    args = run_args(source, "480p", tmp_path / "out")
    kill_group_when(cli, args, lambda: queue_stage(cli.home) == "compressing", "the file queued")

    first = start_desktop_app(cli, tmp_path / "user")
    try:

        def window_processing() -> bool:
            jobs = server_rows(cli.home, "jobs")
            return queue_stage(cli.home) == "processing" and any(status == "processing" for _, status in jobs)

        wait_while_running(first, window_processing, "the window's job processing")
        started = [psutil.Process(first.pid), *descendants(first.pid)]
        os.killpg(first.pid, signal.SIGKILL)  # the window and its built-in server, mid-job
    finally:
        with_group_killed(first)
        first.wait(timeout=30)
    wait_all_ended(started, "the killed app and its built-in server")
    before = queue_item(cli.home)
    assert before is not None and before["stage"] == "processing" and before["job_id"]

    again = start_desktop_app(cli, tmp_path / "user")
    try:
        wait_while_running(
            again, lambda: queue_stage(cli.home) == "done", "the relaunched app finished the file", FINISH_WITHIN_S
        )
        again.terminate()  # a polite quit, as from the window
        _, err = again.communicate(timeout=60)
    finally:
        with_group_killed(again)
        again.wait(timeout=30)
    assert again.returncode == 0, err.decode(errors="replace")[-3000:]

    results = tmp_path / "out" / "vlog"
    manifest_matches(results)
    assert [job_id for job_id, _ in server_rows(cli.home, "jobs")] == [before["job_id"]], "no click, no new job"
    assert len(server_rows(cli.home, "uploads")) == 1, "nothing was uploaded again"
    nothing_went_wrong_in_the_log(cli.home, desktop_log_text(cli.home))
    no_work_left(cli.home)
