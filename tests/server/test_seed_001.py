"""Seed 001's flow: a video and a transcript uploaded through the API, then a job from its body
{title, description, voice, tags, video_upload_id, transcript_upload_id}; files downloaded directly."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path

import requests

from app.core.media.ffmpeg import find_ffmpeg
from tests.server.test_seed_clients import wait_for_job
from tests.support.files import make_clip, pad_with_free_box
from tests.support.servers import RunningServer, User

TRANSCRIPT = "Your transcript content here"


def upload_video(server: RunningServer, user: User, path: Path) -> dict:
    with open(path, "rb") as f:
        answer = requests.post(
            f"{server.url}/api/upload/video?is_temp=true",
            files={"file": (path.name, f, "video/mp4")},
            headers=user.headers,
            timeout=60,
        )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_seed_001_video_transcript_and_job_body(server: RunningServer, user: User, tmp_path: Path) -> None:
    video_response = upload_video(server, user, make_clip(tmp_path / "my_video.mp4", seconds=1))
    video_upload_id = video_response["id"]
    transcript_response = user.call("POST", "/api/upload/transcript-text?is_temp=true", json={"content": TRANSCRIPT})
    transcript_upload_id = transcript_response.json()["id"]
    job_response = user.call(
        "POST",
        "/api/jobs",
        json={
            "title": "My Video",
            "description": "Video description",
            "voice": "alloy",
            "tags": ["ai", "shorts"],
            "video_upload_id": video_upload_id,
            "transcript_upload_id": transcript_upload_id,
        },
    )
    assert job_response.status_code == 200, job_response.text
    doc = wait_for_job(user, job_response.json()["status_url"], timeout=120)
    assert doc["status"] == "completed", doc
    options = doc["options"]
    assert (options["title"], options["voice"], options["tags"]) == ("My Video", "alloy", ["ai", "shorts"])
    assert options["transcript"]["upload_id"] == transcript_upload_id
    archive = user.call("GET", f"/api/jobs/{doc['job_id']}/results.zip").content
    with zipfile.ZipFile(io.BytesIO(archive)) as results:
        assert results.read("transcript/transcript.txt").decode() == TRANSCRIPT
    # Direct download of a small file (the seed's get_file_content).
    content = user.call("GET", f"/api/upload/{transcript_upload_id}/content")
    assert content.status_code == 200 and content.text == TRANSCRIPT
    assert content.headers["content-type"].startswith("text/plain")


def test_seed_001_bad_bodies_say_what_is_wrong(server: RunningServer, user: User, tmp_path: Path) -> None:
    video = upload_video(server, user, make_clip(tmp_path / "clip.mp4", seconds=1))
    transcript = user.call("POST", "/api/upload/transcript-text", json={"content": "hi"}).json()
    not_text = user.call(
        "POST", "/api/jobs", json={"video_upload_id": video["id"], "transcript_upload_id": video["id"]}
    )
    assert not_text.status_code == 422 and not_text.json()["code"] == "not_a_transcript"
    stranger = server.add_user()
    theirs = stranger.call("POST", "/api/jobs", json={"video_upload_id": video["id"]})
    assert theirs.status_code == 404
    own_video = upload_video(server, stranger, make_clip(tmp_path / "theirs.mp4", seconds=1))
    mine_their_transcript = stranger.call(
        "POST", "/api/jobs", json={"video_upload_id": own_video["id"], "transcript_upload_id": transcript["id"]}
    )
    assert mine_their_transcript.status_code == 404
    assert stranger.call("GET", f"/api/upload/{transcript['id']}/content").status_code == 404
    forged = user.call("POST", "/api/jobs", json={"upload_id": video["id"], "options": {"transcript": {"s3_key": "x"}}})
    assert forged.status_code == 422
    assert user.call("POST", "/api/jobs", json={"video_upload_id": video["id"], "voice": "x" * 65}).status_code == 422
    assert user.call("POST", "/api/jobs", json={"video_upload_id": video["id"], "tags": "ai"}).status_code == 422


def test_content_is_for_small_files_only(server: RunningServer, user: User, tmp_path: Path) -> None:
    big = tmp_path / "big.mp4"
    make_clip(big, seconds=1)
    pad_with_free_box(big, 7 * 1024 * 1024)  # above this server's 6 MiB threshold
    body = {"filename": "big.mp4", "file_size": big.stat().st_size, "content_type": "video/mp4"}
    data = user.call("POST", "/api/upload/presigned-url", json=body).json()
    with open(big, "rb") as f:
        assert requests.post(data["upload_url"], data=data["upload_fields"], files={"file": f}, timeout=60).ok
    assert user.call("POST", f"/api/upload/{data['upload_id']}/complete", json={}).status_code == 200
    refused = user.call("GET", f"/api/upload/{data['upload_id']}/content")
    assert refused.status_code == 413 and "/download" in refused.json()["detail"]


SRT = """1
00:00:00,300 --> 00:00:01,700
HELLO FROM THE TRANSCRIPT

2
00:00:02,300 --> 00:00:03,700
A SECOND LINE
"""


def _transcript_file(user: User, name: str, content: str, content_type: str) -> dict:
    answer = requests.post(
        f"{user.base_url}/api/upload/transcript-file?is_temp=true",
        files={"file": (name, content.encode("utf-8"), content_type)},
        headers=user.headers,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _job_with_transcript(server: RunningServer, user: User, video: dict, transcript: dict, burn: bool) -> dict:
    body = {
        "video_upload_id": video["id"],
        "transcript_upload_id": transcript["id"],
        "options": {"renditions": ["240p"], "audio": False, "clips": {"count": 2}, "thumbnails": 0,
                    "burn_captions": burn, "delete_after_processing": False},
    }  # fmt: skip
    job = user.call("POST", "/api/jobs", json=body)
    assert job.status_code == 200, job.text
    doc = wait_for_job(user, job.json()["status_url"], timeout=180)
    assert doc["status"] == "completed", doc
    return {i["item_id"]: i for i in doc["items"]}


def _fetch(user: User, job_items: dict, item_id: str, folder: Path) -> Path:
    link = user.call("GET", f"/api/jobs/{job_items[item_id]['job_id']}/items/{item_id}/url").json()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{item_id}.mp4"
    path.write_bytes(requests.get(link["url"], timeout=60).content)
    return path


def _gray_frame(path: Path, at_s: float) -> bytes:
    ffmpeg = find_ffmpeg().ffmpeg
    args = [ffmpeg, "-v", "error", "-ss", str(at_s), "-i", str(path), "-frames:v", "1", "-f", "rawvideo"]
    return subprocess.run([*args, "-pix_fmt", "gray", "-"], capture_output=True, check=True, timeout=60).stdout


def test_a_timed_transcript_becomes_a_subtitle_track_and_burned_captions(
    server: RunningServer, user: User, tmp_path: Path
) -> None:
    video = upload_video(server, user, make_clip(tmp_path / "talk.mp4", seconds=4, size="320x240"))
    transcript = _transcript_file(user, "talk.srt", SRT, "application/x-subrip")
    burned = _job_with_transcript(server, user, video, transcript, burn=True)
    plain = _job_with_transcript(server, user, video, transcript, burn=False)
    # (the status document's items carry no job id: take it from each job's rendition key)
    for items in (burned, plain):
        job_id = items["rendition_240p"]["s3_key"].split("/")[1]
        for item in items.values():
            item["job_id"] = job_id
    assert burned["rendition_240p"]["metadata"]["captions"] == "subtitle track, 2 lines"
    rendition = _fetch(user, burned, "rendition_240p", tmp_path)
    streams = json.loads(
        subprocess.run(
            [find_ffmpeg().ffprobe or "ffprobe", "-v", "error", "-show_streams", "-of", "json", str(rendition)],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    )["streams"]
    assert [s["codec_name"] for s in streams if s["codec_type"] == "subtitle"] == ["mov_text"]
    assert burned["clip_01"]["metadata"]["captions"] == "burned in" and "captions" not in plain["clip_01"]["metadata"]
    # The burned line is in the picture: the same frame of the clip with and without captions differs.
    with_text = _gray_frame(_fetch(user, burned, "clip_01", tmp_path / "b"), 1.0)
    without = _gray_frame(_fetch(user, plain, "clip_01", tmp_path / "p"), 1.0)
    changed = sum(1 for a, b in zip(with_text, without, strict=True) if abs(a - b) > 40)
    assert changed > 200, f"only {changed} pixels differ: no caption drawn"


def test_a_transcript_that_is_not_timed_leaves_the_job_without_subtitles(
    server: RunningServer, user: User, tmp_path: Path
) -> None:
    video = upload_video(server, user, make_clip(tmp_path / "talk.mp4", seconds=2, size="320x240"))
    transcript = _transcript_file(user, "talk.srt", "this is not an srt at all", "application/x-subrip")
    items = _job_with_transcript(server, user, video, transcript, burn=True)
    assert items["rendition_240p"]["metadata"]["captions"].startswith("none: the transcript talk.srt")
    assert "captions" not in items["clip_01"]["metadata"]
