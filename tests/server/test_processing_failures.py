"""Jobs that do not simply succeed: one step fails (partial), and cancel while ffmpeg runs."""

from __future__ import annotations

import json
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.media import find_ffmpeg, probe
from app.server.db import Job
from tests.server.test_jobs import upload
from tests.server.test_processing import FAST, download, exists, unpack_and_verify_manifest
from tests.server.test_seed_clients import wait_for_job
from tests.support.files import make_clip
from tests.support.servers import RunningServer, User, reeldrop_server


@pytest.fixture(scope="module")
def fast_server(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with reeldrop_server(s3_endpoint, tmp_path_factory.mktemp("failures"), extra=FAST) as running:
        yield running


@pytest.fixture(scope="module")
def slow_server(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """x264's slowest preset: an encode that lasts long enough to be cancelled in the middle."""
    extra = {"REELDROP_X264_PRESET": "veryslow"}
    with reeldrop_server(s3_endpoint, tmp_path_factory.mktemp("slow"), extra=extra) as running:
        yield running


def short_video_track(path: Path) -> Path:
    """1 s of picture, 3 s of sound: the file lasts 3 s but has no frame after the first second."""
    tools = find_ffmpeg()
    args = [tools.ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    args += ["-f", "lavfi", "-t", "1", "-i", "testsrc2=size=320x240:rate=25"]
    args += ["-f", "lavfi", "-t", "3", "-i", "sine=frequency=440:sample_rate=48000"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)]
    subprocess.run(args, check=True, timeout=60)
    return path


def test_a_failed_step_makes_the_job_partial_and_the_others_finish(fast_server: RunningServer, tmp_path: Path) -> None:
    user = fast_server.add_user()
    data = upload(user, short_video_track(tmp_path / "talk.mp4"))
    options = {"renditions": ["240p"], "audio": True, "clips": {"count": 0}, "thumbnails": 2}
    job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": options}).json()
    doc = wait_for_job(user, job["status_url"], timeout=90)

    assert doc["status"] == "partial", doc
    states = {i["item_id"]: (i["status"], i["error_type"]) for i in doc["items"]}
    assert states == {
        "validate": ("completed", None),
        "rendition_240p": ("completed", None),
        "audio": ("completed", None),
        "thumbnail_01": ("completed", None),  # at 0.75 s: there is a picture
        "thumbnail_02": ("failed", "no_frame"),  # at 2.25 s: the video track has ended
        "metadata": ("completed", None),
    }
    failed = next(i for i in doc["items"] if i["item_id"] == "thumbnail_02")
    assert "2.25 s" in failed["error"] and "talk.mp4" in failed["error"] and "/" not in failed["error"]
    assert "1 of" in doc["error"]

    zip_path = tmp_path / "results.zip"
    download(user, f"/api/jobs/{job['job_id']}/results.zip", zip_path)
    manifest = unpack_and_verify_manifest(zip_path, tmp_path / "out")
    assert manifest["status"] == "partial" and manifest["errors"] == 1
    names = {e["name"] for e in manifest["entries"]}
    assert names == {
        "renditions/talk_240p.mp4",
        "audio/talk.m4a",
        "thumbnails/talk_thumb_01.jpg",
        "thumbnails/talk_thumb_02.jpg.error.txt",
        "metadata.json",
        "errors.json",
    }
    report = json.loads((tmp_path / "out" / "errors.json").read_text())
    assert [(e["item_id"], e["error_type"]) for e in report["errors"]] == [("thumbnail_02", "no_frame")]
    assert "no picture" in (tmp_path / "out" / "thumbnails" / "talk_thumb_02.jpg.error.txt").read_text()
    rendition = probe(tmp_path / "out" / "renditions" / "talk_240p.mp4")
    assert rendition.video is not None and (rendition.video.width, rendition.video.height) == (320, 240)
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.testzip() is None
    assert not exists(fast_server, doc["s3_key"])  # a partial job made outputs: its original goes too


def _ffmpeg_processes_in(folder: Path) -> list[int]:
    """Processes (ours: ffmpeg) whose command line mentions ``folder``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in cmdline and "ffmpeg" in cmdline:
            found.append(int(proc.name))
    return found


def _start_long_job(server: RunningServer, user: User, tmp_path: Path) -> tuple[str, Path]:
    data = upload(user, make_clip(tmp_path / "long.mp4", seconds=20, size="640x360"))
    options = {"renditions": ["360p"], "audio": False, "clips": {"count": 0}, "thumbnails": 0}
    job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": options}).json()
    work = server.services.config.data_dir / "work" / job["job_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the rendition's ffmpeg is running
        doc = user.call("GET", job["status_url"]).json()
        rendition = next(i for i in doc["items"] if i["item_id"] == "rendition_360p")
        if rendition["status"] == "processing" and _ffmpeg_processes_in(work):
            return job["job_id"], work
        assert doc["status"] in ("pending", "processing"), doc
        time.sleep(0.05)
    raise AssertionError("the rendition never started")


def _assert_cancelled_and_ffmpeg_gone(user: User, job_id: str, work: Path) -> None:
    doc = wait_for_job(user, f"/api/jobs/{job_id}", timeout=30)
    assert doc["status"] == "cancelled" and doc["error"] == "Cancelled while processing.", doc
    states = {i["item_id"]: i["status"] for i in doc["items"]}
    assert states == {"validate": "completed", "rendition_360p": "cancelled", "metadata": "cancelled"}
    rendition = next(i for i in doc["items"] if i["item_id"] == "rendition_360p")
    assert rendition["progress"] < 100 and rendition["s3_key"] is None
    deadline = time.monotonic() + 10
    while _ffmpeg_processes_in(work) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _ffmpeg_processes_in(work) == []  # ffmpeg was stopped, not left to finish
    assert not work.exists()
    answer = user.call("GET", f"/api/jobs/{job_id}/results.zip")
    assert answer.status_code == 409 and answer.json()["code"] == "no_results"


def test_cancel_stops_ffmpeg(slow_server: RunningServer, tmp_path: Path) -> None:
    user = slow_server.add_user()
    job_id, work = _start_long_job(slow_server, user, tmp_path)
    answer = user.call("POST", f"/api/jobs/{job_id}/cancel")
    assert answer.status_code == 200
    _assert_cancelled_and_ffmpeg_gone(user, job_id, work)
    assert exists(slow_server, user.call("GET", f"/api/jobs/{job_id}").json()["s3_key"])  # kept for a retry


def test_a_cancel_from_another_host_reaches_the_worker_through_the_database(
    slow_server: RunningServer, tmp_path: Path
) -> None:
    """Another API server sets only the database flag: the worker must notice it by itself."""
    user = slow_server.add_user()
    job_id, work = _start_long_job(slow_server, user, tmp_path)
    with slow_server.services.db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.cancel_requested = True  # exactly what the cancel route writes, without the in-process nudge
    _assert_cancelled_and_ffmpeg_gone(user, job_id, work)


def test_a_playlist_uploaded_as_a_video_fails_without_reading_the_files_it_lists(
    fast_server: RunningServer, tmp_path: Path
) -> None:
    """Issue 14 item 2: Alice's holiday.m3u8, declared video/mp4, lists a recording elsewhere on the worker's
    host. Her job fails at validation, named and explained, and nothing of the recording comes back."""
    tools = find_ffmpeg()
    victim = tmp_path / "someone-else" / "recording.ts"
    victim.parent.mkdir()
    argv = [tools.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi"]
    argv += ["-i", "color=c=red:s=320x240:r=25", "-t", "2", "-c:v", "mpeg2video", "-f", "mpegts", str(victim)]
    subprocess.run(argv, check=True, timeout=60)
    user = fast_server.add_user()
    for n, segment in enumerate((victim.as_uri(), str(victim), "../../../../" + str(victim).lstrip("/"))):
        playlist = tmp_path / f"holiday{n}.m3u8"
        playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{segment}\n#EXT-X-ENDLIST\n")
        data = upload(user, playlist, content_type="video/mp4")
        options = {"renditions": ["240p"], "audio": False, "clips": {"count": 0}, "thumbnails": 1}
        job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": options}).json()
        doc = wait_for_job(user, job["status_url"], timeout=60)
        assert doc["status"] == "failed", doc
        validate = doc["items"][0]
        assert (validate["item_id"], validate["status"], validate["error_type"]) == ("validate", "failed", "not_media")
        assert f"holiday{n}.m3u8: is an HLS playlist" in validate["error"], validate["error"]
        assert all(i["s3_key"] is None for i in doc["items"])  # no rendition, no thumbnail of the recording


@pytest.fixture(scope="module")
def strict_server(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Small caps, so that ordinary test clips cross them: 0.1 MP, 5 s, 100 frames."""
    extra = {**FAST, "REELDROP_MAX_PIXELS": "100000", "REELDROP_MAX_DURATION": "5", "REELDROP_MAX_FRAMES": "100"}
    with reeldrop_server(s3_endpoint, tmp_path_factory.mktemp("strict"), extra=extra) as running:
        yield running


def test_sources_over_the_servers_caps_fail_validation_before_decoding(
    strict_server: RunningServer, tmp_path: Path
) -> None:
    """Issue 14 item 3: pixel bombs and endless sources are refused by their probed facts, each saying why."""
    user = strict_server.add_user()
    options = {"renditions": ["240p"], "audio": False, "clips": {"count": 0}, "thumbnails": 1}
    cases = [
        ("wide.mp4", {"seconds": 1, "size": "640x360"}, "too_large", "640x360 (0.2 MP)"),
        ("long.mp4", {"seconds": 6, "size": "160x120", "rate": 10}, "too_long", "lasts 6.0 s"),
        ("fast.mp4", {"seconds": 3, "size": "160x120", "rate": 50}, "too_many_frames", "about 150 frames"),
        ("fine.mp4", {"seconds": 1, "size": "160x120"}, None, None),
    ]
    for name, clip, error_type, says in cases:
        data = upload(user, make_clip(tmp_path / name, **clip))
        job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": options}).json()
        doc = wait_for_job(user, job["status_url"], timeout=90)
        validate = doc["items"][0]
        if error_type is None:  # within the caps, a job runs as ever under the worker's ffmpeg limits
            assert doc["status"] == "completed", doc
            continue
        assert doc["status"] == "failed" and validate["error_type"] == error_type, doc
        assert validate["error"].startswith(f"{name}: ") and says in validate["error"], validate["error"]
