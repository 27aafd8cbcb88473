"""`reeldrop upload` as a user runs it: a subprocess against the real backend and moto's S3 over HTTP.

RELIABILITY.md 2 (SIGKILL, then resume from ListParts; a changed file starts fresh), 9 (memory flat),
19 (a debug log holds no signature or token), plus exit codes, Ctrl-C and the journal listing.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import Cli, json_lines, run_in_terminal, stop
from tests.support.files import random_file, sha256_of
from tests.support.servers import RunningServer, User
from tests.support.upload_stack import stored_sha256, upload_status
from tests.support.waiting import wait_until

MiB = 1024 * 1024


@pytest.fixture
def cli(tmp_path: Path, user: User) -> Cli:
    return Cli(tmp_path / "home", token=user.token)


def test_version_and_usage_errors(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "home")
    done = cli.run("--version")
    assert done.returncode == 0 and done.stdout.startswith("reeldrop ")
    assert cli.run("upload").returncode == 2
    assert cli.run("upload", "x.mp4", "--limit-rate", "fast").returncode == 2
    assert cli.run("--log-level", "chatty", "uploads").returncode == 2


def test_upload_prints_one_json_object_per_file_and_exits_0(cli: Cli, user: User, server: RunningServer, tmp_path):
    small, large = tmp_path / "small.mp4", tmp_path / "large.mp4"
    digests = {str(small): random_file(small, 300_000), str(large): random_file(large, 13 * MiB)}
    done = cli.run("upload", str(small), str(large), "--server", server.url, "--json", "--part-size", "5M")
    assert done.returncode == 0, done.stderr
    records = {record["path"]: record for record in json_lines(done.stdout)}
    assert set(records) == set(digests)
    for path, record in records.items():
        assert record["error"] is None and record["sha256"] == digests[path]
        assert record["size"] == Path(path).stat().st_size and record["seconds"] >= 0
        assert record["s3_key"].endswith(Path(path).name) and record["parts_reused"] == 0
        assert stored_sha256(user, record["upload_id"]) == digests[path]
    assert records[str(large)]["method"] == "MULTIPART" and records[str(large)]["parts"] == 3
    assert records[str(small)]["method"] == "POST"
    listing = cli.run("uploads")
    assert listing.returncode == 0 and listing.stdout.count("completed") == 2 and str(large) in listing.stdout


def test_one_bad_file_is_one_line_and_exit_1_while_the_rest_upload(cli: Cli, user, server, tmp_path):
    good = tmp_path / "good.mp4"
    digest = random_file(good, 100_000)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    done = cli.run("upload", str(tmp_path / "gone.mp4"), str(empty), str(tmp_path), str(good), "--server", server.url)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("reeldrop: error:")]
    assert len(errors) == 3
    assert any("gone.mp4: does not exist" in line for line in errors)
    assert any("empty.mp4" in line and "empty" in line for line in errors)
    assert any(str(tmp_path) in line and "folder" in line for line in errors)
    assert "uploaded" in done.stdout and "good.mp4" in done.stdout
    assert sha256_of(good) == digest


def test_no_token_is_a_clear_message(tmp_path: Path, server: RunningServer) -> None:
    done = Cli(tmp_path / "home", extra_env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}).run(
        "upload", str(tmp_path / "x.mp4"), "--server", server.url
    )
    assert done.returncode == 1 and "Not signed in" in done.stderr and "reeldrop login" in done.stderr


def test_sigkill_then_rerun_resumes_from_the_parts_s3_holds(cli: Cli, user, server, tmp_path):
    path = tmp_path / "killed.mp4"
    digest = random_file(path, 31 * MiB)  # 7 parts of 5 MiB
    args = ("upload", str(path), "--server", server.url, "--json", "--part-size", "5M", "--concurrency", "2")
    process = cli.start(*args, "--limit-rate", "6M")
    try:
        wait_until(lambda: cli.journaled_parts() >= 2 or process.poll() is not None, timeout=60)
    finally:
        code, _, err = stop(process, signal.SIGKILL)
    assert code == -signal.SIGKILL, err
    (upload_id,) = cli.uploading_ids()
    done = cli.run(*args)
    assert done.returncode == 0, done.stderr
    (record,) = json_lines(done.stdout)
    assert record["upload_id"] == upload_id and record["parts"] == 7
    assert record["parts_reused"] >= 2
    assert record["bytes_sent"] <= path.stat().st_size - 2 * 5 * MiB  # not from zero
    assert record["sha256"] == digest == stored_sha256(user, upload_id)


def test_a_file_changed_after_a_kill_starts_fresh_and_the_old_upload_is_aborted(cli: Cli, user, server, tmp_path):
    path = tmp_path / "edited.mp4"
    random_file(path, 21 * MiB)
    args = ("upload", str(path), "--server", server.url, "--json", "--part-size", "5M", "--concurrency", "1")
    process = cli.start(*args, "--limit-rate", "6M")
    try:
        wait_until(lambda: cli.journaled_parts() >= 1 or process.poll() is not None, timeout=60)
    finally:
        stop(process, signal.SIGKILL)
    (old_id,) = cli.uploading_ids()
    digest = random_file(path, 21 * MiB)  # new content, new mtime
    done = cli.run(*args)
    assert done.returncode == 0, done.stderr
    (record,) = json_lines(done.stdout)
    assert record["upload_id"] != old_id and record["parts_reused"] == 0 and record["sha256"] == digest
    assert upload_status(user, old_id) == "aborted"


def test_ctrl_c_saves_the_journal_exits_130_and_the_rerun_resumes(cli: Cli, user, server, tmp_path):
    path = tmp_path / "interrupted.mp4"
    digest = random_file(path, 26 * MiB)
    args = ("upload", str(path), "--server", server.url, "--part-size", "5M", "--concurrency", "2")
    process = cli.start(*args, "--limit-rate", "6M")
    try:
        wait_until(lambda: cli.journaled_parts() >= 2 or process.poll() is not None, timeout=60)
    finally:
        code, _, err = stop(process, signal.SIGINT)
    assert code == 130, err
    assert "resume" in err
    (upload_id,) = cli.uploading_ids()
    done = cli.run(*args, "--json")
    (record,) = json_lines(done.stdout)
    assert done.returncode == 0 and record["upload_id"] == upload_id and record["parts_reused"] >= 2
    assert record["sha256"] == digest


# Measured by a small wrapper process: os.wait4 on a child forked straight from pytest would count the
# pytest image (moto keeps uploaded objects in this process) as the child's peak.
MEASURE = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print('PEAK_RSS_KIB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def _peak_rss_kib(cli: Cli, *args: str) -> tuple[int, list[dict]]:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *cli.command(*args)], capture_output=True, text=True, env=cli.env(), timeout=120
    )
    assert done.returncode == 0, done.stderr
    peak = next(line.split()[1] for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KIB"))
    return int(peak), json_lines(done.stdout)


@pytest.mark.slow
def test_memory_stays_flat_from_40_mb_to_400_mb(cli: Cli, user, server, tmp_path):
    peaks = {}
    for size in (40 * 1000**2, 400 * 1000**2):
        path = tmp_path / f"flat-{size}.mp4"
        with path.open("wb") as sparse:
            sparse.truncate(size)  # zeros cost no disk; S3 still gets every byte
        peak, (record,) = _peak_rss_kib(cli, "upload", str(path), "--server", server.url, "--json")
        assert record["error"] is None and record["size"] == size
        peaks[size] = peak
        user.call("DELETE", f"/api/upload/{record['upload_id']}")  # free moto's memory
        path.unlink()
    small, large = peaks.values()
    print(f"peak RSS: 40 MB file {small} KiB, 400 MB file {large} KiB")
    assert large - small < 8 * 1024, peaks  # KiB: within a few MB for 10x the data


def test_a_debug_log_of_an_upload_holds_no_signature_or_token(cli: Cli, user, server, tmp_path):
    path = tmp_path / "logged.mp4"
    random_file(path, 12 * MiB)
    small = tmp_path / "logged-small.mp4"
    random_file(small, 50_000)
    log_file = tmp_path / "debug.log"
    done = cli.run(
        "--log-level", "debug", "--log-file", str(log_file),
        "upload", str(path), str(small), "--server", server.url, "--part-size", "5M",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = log_file.read_text()
    assert '"PUT /' in text and "logged.mp4?<redacted>" in text and "part 3 of 3 stored" in text  # logged...
    for secret in ("X-Amz-Signature", "X-Amz-Credential", user.token, "Signature="):
        assert secret not in text, secret  # ...without what makes them credentials
    assert user.token not in done.stdout + done.stderr


def test_a_terminal_gets_a_progress_bar_with_bytes_rate_and_eta(cli: Cli, server, tmp_path):
    path = tmp_path / "bar.mp4"
    random_file(path, 8 * MiB)
    code, output = run_in_terminal(cli, "upload", str(path), "--server", server.url, "--limit-rate", "8M")
    assert code == 0, output
    frames = [frame for frame in output.split("\r") if "files:" in frame]
    assert len(frames) >= 3  # redrawn while it ran
    assert any("MiB / 8.0 MiB" in frame and "/s, ETA " in frame for frame in frames)
    assert "uploaded " in output and "bar.mp4" in output
