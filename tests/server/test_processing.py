"""A whole job through the built-in pipeline over HTTP: real ffmpeg, moto S3, the results ZIP and its serving.

The checks at the top are shared with the failure tests and the multi-host end-to-end test.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from app.core.media import compress, find_ffmpeg, probe
from tests.server.test_jobs import upload
from tests.server.test_seed_clients import wait_for_job
from tests.support.files import make_clip
from tests.support.servers import TEST_ACCESS_KEY, TEST_SECRET_KEY, RunningServer, User, reeldrop_server


def s3_client(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=TEST_ACCESS_KEY,
        aws_secret_access_key=TEST_SECRET_KEY,
    )


def exists(server: RunningServer, key: str) -> bool:
    try:
        s3_client(server.s3_endpoint).head_object(Bucket=server.services.config.bucket, Key=key)
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def download(user: User, path: str, dest: Path, **kw: object) -> Mapping[str, str]:
    with user.call("GET", path, stream=True, **kw) as answer:
        assert answer.status_code == 200, answer.text
        with open(dest, "wb") as out:
            for block in answer.iter_content(1024 * 1024):
                out.write(block)
        return answer.headers


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def playable(path: Path) -> None:
    """ffmpeg decodes every frame without a single error: the file plays."""
    tools = find_ffmpeg()
    result = subprocess.run(
        [tools.ffmpeg, "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0 and not result.stderr.strip(), f"{path.name}: {result.stderr}"


def image_size(path: Path) -> tuple[int, int]:
    tools = find_ffmpeg()
    assert tools.ffprobe, "ffprobe is installed with ffmpeg on the test machines"
    out = subprocess.run(
        [tools.ffprobe, "-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    width, height = out.split(",")[:2]
    return int(width), int(height)


def unpack_and_verify_manifest(zip_path: Path, dest: Path) -> dict:
    """Unpack the ZIP; every entry but the manifest is listed in it with its exact size and SHA-256."""
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.testzip() is None  # every CRC is right
        names = archive.namelist()
        assert names[-1] == "manifest.json", names
        manifest = json.loads(archive.read("manifest.json"))
        listed = {entry["name"]: entry for entry in manifest["entries"]}
        assert sorted(listed) == sorted(names[:-1])
        for name in names[:-1]:
            data = archive.read(name)
            assert listed[name]["size"] == len(data), name
            assert listed[name]["sha256"] == sha256_bytes(data), name
            assert not name.startswith("/") and ".." not in name
        archive.extractall(dest)
    return manifest


def check_complete_results(doc: dict, zip_path: Path, dest: Path, stem: str, seconds: float, clips: int) -> dict:
    """The ZIP of a completed job on a 640x360 source with renditions 360p and 240p (720p asked, skipped)."""
    manifest = unpack_and_verify_manifest(zip_path, dest)
    assert manifest["status"] == "completed" and manifest["errors"] == 0
    assert not (dest / "errors.json").exists()
    assert [s["item_id"] for s in manifest["skipped"]] == ["rendition_720p"]

    full = probe(dest / "renditions" / f"{stem}_360p.mp4")
    assert full.video and (full.video.width, full.video.height) == (640, 360)  # kept, never upscaled
    small = probe(dest / "renditions" / f"{stem}_240p.mp4")
    assert small.video and small.video.height <= 240 and small.video.width <= 426
    assert abs(small.video.width / small.video.height - 16 / 9) < 0.02  # aspect kept
    for info in (full, small):
        assert info.video.codec == "h264" and info.audio and info.audio.codec == "aac"
        assert abs((info.duration_s or 0) - seconds) < 0.3
        playable(info.path)

    audio = probe(dest / "audio" / f"{stem}.m4a")
    assert audio.video is None and audio.audio and audio.audio.codec == "aac"
    assert abs((audio.duration_s or 0) - seconds) < 0.3
    playable(audio.path)

    clip_files = sorted((dest / "clips").iterdir())
    assert [p.name for p in clip_files] == [f"{stem}_clip_{n:02d}.mp4" for n in range(1, clips + 1)]
    for path in clip_files:
        info = probe(path)
        assert info.video and info.audio and abs((info.duration_s or 0) - seconds / clips) < 0.3
        playable(path)

    thumbs = sorted((dest / "thumbnails").iterdir())
    assert len(thumbs) == len([i for i in doc["items"] if i["kind"] == "thumbnail"])
    for path in thumbs:
        assert path.read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG
        assert image_size(path) == (640, 360)

    metadata = json.loads((dest / "metadata.json").read_text())
    assert metadata["job_id"] == doc["job_id"]
    assert metadata["source"]["probe"]["video"]["width"] == 640
    assert metadata["options"]["renditions"] == doc["options"]["renditions"]
    return manifest


# -- the tests -----------------------------------------------------------------------------------------

FAST = {"REELDROP_X264_PRESET": "ultrafast"}  # a server setting; the product default stays "fast"
FULL_OPTIONS = {
    "renditions": ["720p", "360p", "240p"],
    "audio": True,
    "clips": {"count": 3},
    "thumbnails": 3,
    "delete_after_processing": True,
}


@pytest.fixture(scope="module")
def fast_server(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with reeldrop_server(s3_endpoint, tmp_path_factory.mktemp("processing"), extra=FAST) as running:
        yield running


@dataclass
class FinishedJob:
    user: User
    doc: dict
    zip_path: Path
    upload_id: str


@pytest.fixture(scope="module")
def ten_second_job(fast_server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> FinishedJob:
    """The issue's "done when": a 10-second clip uploaded through the API, processed, its ZIP downloaded."""
    folder = tmp_path_factory.mktemp("ten-seconds")
    user = fast_server.add_user()
    data = upload(user, make_clip(folder / "holiday.mp4", seconds=10, size="640x360"))
    job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": FULL_OPTIONS}).json()
    doc = wait_for_job(user, job["status_url"], timeout=120)
    zip_path = folder / "results.zip"
    download(user, f"/api/jobs/{job['job_id']}/results.zip", zip_path)
    return FinishedJob(user, doc, zip_path, data["upload_id"])


def test_a_ten_second_clip_ends_completed_with_every_output(
    fast_server: RunningServer, ten_second_job: FinishedJob, tmp_path: Path
) -> None:
    doc = ten_second_job.doc
    assert doc["status"] == "completed" and doc["progress"] == 100 and doc["error"] is None, doc
    kinds = [(i["item_id"], i["status"]) for i in doc["items"]]
    assert kinds == [
        ("validate", "completed"),
        ("rendition_720p", "skipped"),
        ("rendition_360p", "completed"),
        ("rendition_240p", "completed"),
        ("audio", "completed"),
        *[(f"clip_{n:02d}", "completed") for n in (1, 2, 3)],
        *[(f"thumbnail_{n:02d}", "completed") for n in (1, 2, 3)],
        ("metadata", "completed"),
    ]
    skipped = doc["items"][1]
    assert skipped["error_type"] == "would_upscale" and "640x360" in skipped["error"]
    by_id = {i["item_id"]: i for i in doc["items"]}
    # seed 002's key scheme: videos/{video_id}/{name}_{quality}.mp4
    assert by_id["rendition_360p"]["s3_key"] == f"videos/{doc['job_id']}/holiday_360p.mp4"
    assert by_id["rendition_240p"]["metadata"]["height"] <= 240
    assert all(i["progress"] == 100 for i in doc["items"] if i["status"] == "completed")

    assert hashlib.sha256(ten_second_job.zip_path.read_bytes()).hexdigest() == doc["result"]["zip_sha256"]
    assert ten_second_job.zip_path.stat().st_size == doc["result"]["zip_size"]
    check_complete_results(doc, ten_second_job.zip_path, tmp_path / "unpacked", "holiday", 10.0, clips=3)


def test_the_original_is_deleted_and_the_outputs_kept(fast_server: RunningServer, ten_second_job: FinishedJob) -> None:
    doc, user = ten_second_job.doc, ten_second_job.user
    assert not exists(fast_server, doc["s3_key"])  # delete_after_processing (seed 004)
    assert user.call("GET", f"/api/upload/{ten_second_job.upload_id}").json()["status"] == "deleted"
    for item in doc["items"]:
        if item["s3_key"]:
            assert exists(fast_server, item["s3_key"]), item["item_id"]
    assert exists(fast_server, f"results/{doc['job_id']}.zip")


def test_results_are_served_with_ranges_to_their_owner_only(
    fast_server: RunningServer, ten_second_job: FinishedJob, tmp_path: Path
) -> None:
    user, job_id = ten_second_job.user, ten_second_job.doc["job_id"]
    other_user = fast_server.add_user()
    whole = ten_second_job.zip_path.read_bytes()
    sha = ten_second_job.doc["result"]["zip_sha256"]

    # presigned GET straight from S3, with a Range
    link = user.call("GET", f"/api/jobs/{job_id}/results/url").json()
    assert (link["size"], link["sha256"]) == (len(whole), sha) and link["expires_in"] > 0
    part = requests.get(link["url"], headers={"Range": "bytes=100-199"}, timeout=30)
    assert part.status_code == 206 and part.content == whole[100:200]

    # the streaming endpoints: seed 000's path too
    headers = download(user, f"/channel/download/results/{job_id}", tmp_path / "again.zip")
    assert (tmp_path / "again.zip").read_bytes() == whole and headers["ETag"] == f'"{sha}"'
    tail = user.call("GET", f"/api/jobs/{job_id}/results.zip", headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == whole[-50:]
    assert tail.headers["Content-Range"] == f"bytes {len(whole) - 50}-{len(whole) - 1}/{len(whole)}"
    resumed = user.call(
        "GET", f"/api/jobs/{job_id}/results.zip", headers={"Range": "bytes=1000-", "If-Range": f'"{sha}"'}
    )
    assert resumed.status_code == 206 and resumed.content == whole[1000:]
    changed = user.call("GET", f"/api/jobs/{job_id}/results.zip", headers={"Range": "bytes=1000-", "If-Range": '"old"'})
    assert changed.status_code == 200 and changed.content == whole  # another version: the whole file
    head = user.call("HEAD", f"/api/jobs/{job_id}/results.zip")
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(whole) and not head.content
    outside = user.call("GET", f"/api/jobs/{job_id}/results.zip", headers={"Range": f"bytes={len(whole)}-"})
    assert outside.status_code == 416 and outside.headers["Content-Range"] == f"bytes */{len(whole)}"

    for path in (
        f"/api/jobs/{job_id}/results.zip",
        f"/channel/download/results/{job_id}",
        f"/api/jobs/{job_id}/results/url",
    ):
        assert other_user.call("GET", path).status_code == 404
        assert requests.get(f"{fast_server.url}{path}", timeout=10).status_code == 401


def test_results_of_an_unfinished_job_are_not_ready(fast_server: RunningServer, tmp_path: Path) -> None:
    with reeldrop_server(fast_server.s3_endpoint, tmp_path / "idle", run_worker=False) as idle:
        user = idle.add_user()
        data = upload(user, make_clip(tmp_path / "c.mp4", seconds=1, size="160x120"))
        job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"]}).json()
        doc = user.call("GET", job["status_url"]).json()
        assert doc["status"] == "pending"
        assert [i["item_id"] for i in doc["items"]][:3] == ["validate", "rendition_720p", "rendition_480p"]
        answer = user.call("GET", f"/api/jobs/{job['job_id']}/results.zip")
        assert answer.status_code == 409 and answer.json()["code"] == "results_not_ready"
        user.call("POST", f"/api/jobs/{job['job_id']}/cancel")
        doc = user.call("GET", job["status_url"]).json()
        assert doc["status"] == "cancelled" and {i["status"] for i in doc["items"]} == {"cancelled"}
        answer = user.call("GET", f"/api/jobs/{job['job_id']}/results/url")
        assert answer.status_code == 409 and answer.json()["code"] == "no_results"


def test_without_ffprobe_the_worker_probes_with_ffmpeg(
    fast_server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REELDROP_FFPROBE", "none")  # as with the ffmpeg bundled in the imageio-ffmpeg wheel
    user = fast_server.add_user()
    data = upload(user, make_clip(tmp_path / "noprobe.mp4", seconds=2, size="320x240"))
    options = {"renditions": ["240p"], "audio": True, "clips": {"count": 1}, "thumbnails": 1}
    job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": options}).json()
    doc = wait_for_job(user, job["status_url"], timeout=60)
    assert doc["status"] == "completed", doc
    validate = doc["items"][0]
    assert validate["metadata"]["probed_with"] == "ffmpeg"
    assert (validate["metadata"]["video"]["width"], validate["metadata"]["video"]["height"]) == (320, 240)
    rendition = doc["items"][1]
    assert rendition["metadata"]["height"] == 240 and rendition["metadata"]["video_codec"] == "h264"


def video_stream_hash(path: Path) -> str:
    """A hash of the video packets themselves (not of the container): equal only for the very same encode."""
    tools = find_ffmpeg()
    out = subprocess.run(
        [tools.ffmpeg, "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "hash",
         "-hash", "sha256", "-"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    return out.strip()


def test_the_uploaded_encode_becomes_its_rendition_by_a_remux(fast_server: RunningServer, tmp_path: Path) -> None:
    # What the app uploads: a 720p source compressed with the 480p preset, as a fragmented MP4 (the streaming
    # upload's form). The job asks for that preset's outputs; 480p is the upload itself, 360p is encoded.
    source = make_clip(tmp_path / "source.mp4", seconds=3, size="1280x720")
    encoded = compress(source, tmp_path / "street.mp4", "480p", fragmented=True).path
    user = fast_server.add_user()
    data = upload(user, encoded)
    options = {"renditions": ["480p", "360p"], "audio": False, "clips": {"count": 0}, "thumbnails": 0}
    job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": options}).json()
    doc = wait_for_job(user, job["status_url"], timeout=120)
    assert doc["status"] == "completed", doc
    zip_path = tmp_path / "results.zip"
    download(user, f"/api/jobs/{job['job_id']}/results.zip", zip_path)
    unpack_and_verify_manifest(zip_path, tmp_path / "out")

    by_id = {item["item_id"]: item for item in doc["items"]}
    assert by_id["rendition_480p"]["metadata"]["remuxed"] is True
    assert by_id["rendition_360p"]["metadata"]["remuxed"] is False
    same = tmp_path / "out" / "renditions" / "street_480p.mp4"
    assert video_stream_hash(same) == video_stream_hash(encoded), "the very same video, not a second encode"
    info = probe(same)
    assert info.video and (info.video.width, info.video.height) == (854, 480) and info.audio
    assert abs((info.duration_s or 0) - 3.0) < 0.3
    playable(same)
    with open(same, "rb") as f:  # a plain MP4 with its index at the front, not the upload's fragments
        head = f.read(64 * 1024)
    assert head.find(b"moov") != -1 and b"moof" not in head
    smaller = probe(tmp_path / "out" / "renditions" / "street_360p.mp4")
    assert smaller.video and (smaller.video.width, smaller.video.height) == (640, 360)


def test_a_file_over_the_renditions_bitrate_is_encoded_again(fast_server: RunningServer, tmp_path: Path) -> None:
    # The right size and codec, but far above 480p's cap: it is not what the rendition promises, so it is encoded.
    source = tmp_path / "heavy.mp4"
    subprocess.run(
        [find_ffmpeg().ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=854x480:rate=25",
         "-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p", str(source)],
        check=True, timeout=120,
    )  # fmt: skip
    assert (probe(source).bit_rate or 0) > 2500 * 1000 * 2
    user = fast_server.add_user()
    data = upload(user, source)
    options = {"renditions": ["480p"], "audio": False, "clips": {"count": 0}, "thumbnails": 0}
    job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": options}).json()
    doc = wait_for_job(user, job["status_url"], timeout=120)
    assert doc["status"] == "completed", doc
    rendition = next(item for item in doc["items"] if item["item_id"] == "rendition_480p")
    assert rendition["metadata"]["remuxed"] is False
    assert rendition["metadata"]["bit_rate"] < (probe(source).bit_rate or 0) / 2
