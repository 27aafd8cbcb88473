"""The source documents' own example clients, unchanged where they talk to S3, against our answers.

Their calls to the API gain only the Authorization header that API.md requires.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from tests.support.files import make_clip, pad_with_free_box
from tests.support.servers import RunningServer, User

SEED_003_FILE_SIZE = 187_000_000  # the size seed 003's own snippets send (above the 100 MiB POST threshold)


def wait_for_job(user: User, status_path: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = user.call("GET", status_path).json()
        if doc["status"] in ("completed", "partial", "failed", "cancelled"):
            return doc
        time.sleep(0.2)
    raise AssertionError(f"job at {status_path} did not finish in {timeout}s: {doc}")


def test_seed_003_flow(server: RunningServer, user: User, tmp_path: Path) -> None:
    make_clip(tmp_path / "traffic_video.mp4", seconds=1)
    # Step 1: Get presigned URL (seed 003 sends no content_type)
    response = requests.post(
        f"{server.url}/process/video/upload/s3/presigned-url",
        json={"filename": "traffic_video.mp4", "file_size": (tmp_path / "traffic_video.mp4").stat().st_size},
        headers=user.headers,
        timeout=30,
    )
    data = response.json()
    # Step 2: Upload to S3 — the seed's code, unchanged
    with open(tmp_path / "traffic_video.mp4", "rb") as f:
        files = {"file": f}
        upload_response = requests.post(data["upload_url"], data=data["upload_fields"], files=files)
    assert upload_response.status_code == 204
    # Step 3: Process Video
    job = requests.post(
        f"{server.url}/process/video/s3",
        json={"s3_key": data["s3_key"], "frame_skip": 2, "min_confidence": 0.3, "delete_after_processing": True},
        headers=user.headers,
        timeout=30,
    ).json()
    assert job["status"] == "pending" and "Use the job_id" in job["message"]
    # the job takes the id the presigned answer promised, so its status_url works
    assert job["job_id"] == data["job_id"] and data["status_url"] == f"/jobs/{data['job_id']}"
    # Step 4: Monitor Progress
    doc = wait_for_job(user, data["status_url"])
    assert doc["status"] == "completed", doc
    validate = doc["items"][0]
    assert validate["kind"] == "validate" and validate["status"] == "completed"
    assert validate["metadata"]["video"]["width"] == 320


def test_seed_004_flow(server: RunningServer, user: User, tmp_path: Path) -> None:
    make_clip(tmp_path / "large_video.mp4", seconds=1)
    response = requests.post(
        f"{server.url}/api/upload/presigned-url/",
        json={
            "filename": "large_video.mp4",
            "file_size": (tmp_path / "large_video.mp4").stat().st_size,
            "content_type": "video/mp4",
        },
        headers=user.headers,
        timeout=30,
    )
    presigned = response.json()
    # Step 2: Upload to S3 — the seed's code, unchanged
    with open(tmp_path / "large_video.mp4", "rb") as f:
        requests.post(presigned["upload_url"], data=presigned["upload_fields"], files={"file": f})
    # Step 3: Create job (seed 004 never calls complete: create-job checks the object itself)
    job = requests.post(
        f"{server.url}/api/upload/create-job/",
        json={
            "job_id": presigned["job_id"],
            "s3_key": presigned["s3_key"],
            "file_type": "video",
            "num_segments": 5,
        },
        headers=user.headers,
        timeout=30,
    )
    assert job.status_code == 200, job.text
    assert job.json()["job_id"] == presigned["job_id"]
    doc = wait_for_job(user, f"/api/jobs/{presigned['job_id']}")
    assert doc["options"]["clips"] == {"count": 5}
    assert doc["status"] == "completed"
    # seed 004: the original is deleted once its job made the outputs (delete_after_processing defaults on)
    assert user.call("GET", f"/api/upload/{presigned['upload_id']}").json()["status"] == "deleted"


def test_seed_003_curl_form_upload(server: RunningServer, user: User, tmp_path: Path) -> None:
    """Seed 003's curl command: -F for every field, then -F file=@..."""
    import shutil
    import subprocess

    curl = shutil.which("curl")
    assert curl, "curl is part of the test environment"
    clip = make_clip(tmp_path / "clip.mp4", seconds=1)
    data = user.call(
        "POST",
        "/api/upload/presigned-url",
        json={"filename": "clip.mp4", "file_size": clip.stat().st_size, "content_type": "video/mp4"},
    ).json()
    args = [curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", data["upload_url"]]
    for name, value in data["upload_fields"].items():
        args += ["-F", f"{name}={value}"]
    args += ["-F", f"file=@{clip}"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout == "204", result.stderr
    done = user.call("POST", f"/api/upload/{data['upload_id']}/complete", json={})
    assert done.status_code == 200 and done.json()["size"] == clip.stat().st_size


def clip_of_size(path: Path, size: int) -> Path:
    """A real 1 s clip grown to exactly `size` bytes (a free box): what the worker probes plays."""
    make_clip(path, seconds=1)
    return pad_with_free_box(path, size - path.stat().st_size)


def no_multipart_upload_left(server: RunningServer, s3_key: str) -> bool:
    return not [u for u in server.services.store.list_multipart_uploads(s3_key) if u.get("Key") == s3_key]


def test_seed_003_snippet_at_its_own_size_above_the_multipart_threshold(
    server: RunningServer, user: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Seed 003's Python snippet, unchanged but for the Authorization header, with its own file_size. Above
    # the multipart threshold it crashed with KeyError: 'upload_url'; the answer now carries the POST form
    # beside the multipart plan, and the job takes the object the form stored.
    clip_of_size(tmp_path / "traffic_video.mp4", SEED_003_FILE_SIZE)
    monkeypatch.chdir(tmp_path)  # the snippet opens "traffic_video.mp4" where it runs
    response = requests.post(
        f"{server.url}/process/video/upload/s3/presigned-url",
        json={"filename": "traffic_video.mp4", "file_size": 187000000},
        headers=user.headers,
    )
    data = response.json()
    assert data["method"] == "MULTIPART" and data["part_count"] > 1  # ReelDrop's own client sends parts
    with open("traffic_video.mp4", "rb") as f:
        files = {"file": f}
        upload_response = requests.post(data["upload_url"], data=data["upload_fields"], files=files)
    print(f"Upload status: {upload_response.status_code}")
    assert upload_response.status_code == 204
    job = requests.post(
        f"{server.url}/process/video/s3", json={"s3_key": data["s3_key"]}, headers=user.headers, timeout=30
    )
    assert job.status_code == 200, job.text
    doc = wait_for_job(user, data["status_url"], timeout=120)
    assert doc["status"] == "completed", doc
    upload = user.call("GET", f"/api/upload/{data['upload_id']}").json()
    # taken as uploaded (then deleted after its job: seed 003's delete_after_processing), at its full size
    assert upload["status"] in ("uploaded", "deleted") and upload["size"] == SEED_003_FILE_SIZE
    assert no_multipart_upload_left(server, data["s3_key"])  # the plan nobody used is aborted, not billed


def test_seed_004_snippet_above_the_threshold_gets_the_form_and_its_file_type(
    server: RunningServer, user: User, tmp_path: Path
) -> None:
    # Seed 004's 3-step snippet (its example is 2 GB): step 1's answer is read for upload_url, upload_fields
    # and file_type; step 3 creates the job without calling complete.
    source = clip_of_size(tmp_path / "large_video.mp4", 8 * 1024 * 1024)  # above this server's 6 MiB threshold
    presigned = requests.post(
        f"{server.url}/api/upload/presigned-url/",
        json={"filename": "large_video.mp4", "file_size": source.stat().st_size, "content_type": "video/mp4"},
        headers=user.headers,
        timeout=30,
    ).json()
    upload_url, upload_fields, file_type = presigned["upload_url"], presigned["upload_fields"], presigned["file_type"]
    assert presigned["method"] == "MULTIPART" and file_type == "video"
    with open(source, "rb") as f:
        assert requests.post(upload_url, data=upload_fields, files={"file": f}).status_code == 204
    job = requests.post(
        f"{server.url}/api/upload/create-job/",
        json={"job_id": presigned["job_id"], "s3_key": presigned["s3_key"], "file_type": file_type},
        headers=user.headers,
        timeout=30,
    )
    assert job.status_code == 200, job.text
    assert wait_for_job(user, f"/api/jobs/{presigned['job_id']}")["status"] == "completed"
    assert no_multipart_upload_left(server, presigned["s3_key"])


def test_complete_takes_whichever_upload_the_client_used(server: RunningServer, user: User, tmp_path: Path) -> None:
    source = clip_of_size(tmp_path / "either.mp4", 7 * 1024 * 1024)
    body = {"filename": "either.mp4", "file_size": source.stat().st_size, "content_type": "video/mp4"}
    offered = user.call("POST", "/api/upload/presigned-url", json=body).json()
    assert offered["id"] == offered["upload_id"]  # seed 001's name for it
    # Completing before anything arrived says so, as for any upload.
    early = user.call("POST", f"/api/upload/{offered['upload_id']}/complete", json={})
    assert early.status_code in (400, 409), early.text
    with open(source, "rb") as f:
        assert requests.post(offered["upload_url"], data=offered["upload_fields"], files={"file": f}).ok
    done = user.call("POST", f"/api/upload/{offered['upload_id']}/complete", json={})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "uploaded" and done.json()["size"] == source.stat().st_size
    assert no_multipart_upload_left(server, offered["s3_key"])
    # A part list for an upload that went by POST is refused: its parts no longer exist.
    assert (
        user.call("POST", f"/api/upload/{offered['upload_id']}/parts", json={"parts": [{"part_number": 1}]}).status_code
        == 409
    )


def test_the_form_is_checked_like_any_post_upload(server: RunningServer, user: User, tmp_path: Path) -> None:
    declared = 7 * 1024 * 1024
    body = {"filename": "short.mp4", "file_size": declared, "content_type": "video/mp4"}
    offered = user.call("POST", "/api/upload/presigned-url", json=body).json()
    short = clip_of_size(tmp_path / "short.mp4", declared - 1024 * 1024)  # 1 MiB less than declared
    with open(short, "rb") as f:
        requests.post(offered["upload_url"], data=offered["upload_fields"], files={"file": f})
    refused = user.call("POST", f"/api/upload/{offered['upload_id']}/complete", json={})
    if refused.status_code == 200:  # the POST policy's size range refused the body: nothing was stored
        raise AssertionError(refused.text)
    assert refused.json()["code"] in ("size_mismatch", "object_missing"), refused.text


@pytest.mark.parametrize(
    ("body", "form"),
    [
        ({"filename": "live.mp4", "file_size": 50 * 1024 * 1024, "streaming": True}, False),  # no final size
        ({"filename": "huge.mp4", "file_size": 6 * 1024**3}, False),  # above what one POST can carry
        ({"filename": "song.m4a", "file_size": 1000, "content_type": "audio/mp4"}, True),
    ],
)
def test_which_answers_carry_the_form(user: User, body: dict, form: bool) -> None:
    answer = user.call("POST", "/api/upload/presigned-url", json=body)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert ("upload_url" in data and "upload_fields" in data) is form
    assert data["file_type"] == ("audio" if body.get("content_type", "").startswith("audio/") else "video")
    user.call("DELETE", f"/api/upload/{data['upload_id']}")


def test_an_upload_abandoned_after_the_form_leaves_nothing(server: RunningServer, user: User, tmp_path: Path) -> None:
    source = clip_of_size(tmp_path / "dropped.mp4", 7 * 1024 * 1024)
    body = {"filename": "dropped.mp4", "file_size": source.stat().st_size, "content_type": "video/mp4"}
    offered = user.call("POST", "/api/upload/presigned-url", json=body).json()
    with open(source, "rb") as f:
        assert requests.post(offered["upload_url"], data=offered["upload_fields"], files={"file": f}).ok
    assert user.call("DELETE", f"/api/upload/{offered['upload_id']}").json()["status"] == "aborted"
    assert server.services.store.head(offered["s3_key"]) is None
    assert no_multipart_upload_left(server, offered["s3_key"])


SEED_ALIASES = {
    ("post", "/process/video/upload/s3/presigned-url"): "/api/upload/presigned-url",
    ("post", "/api/upload/presigned-url/"): "/api/upload/presigned-url",
    ("post", "/api/upload/create-job/"): "/api/upload/create-job",
    ("post", "/api/upload/video"): "/api/upload/file",
    ("get", "/jobs/{job_id}"): "/api/jobs/{job_id}",
    ("get", "/channel/download/results/{job_id}"): "/api/jobs/{job_id}/results.zip",
}


def test_the_seeds_aliases_are_in_the_openapi_document_marked_deprecated(server: RunningServer) -> None:
    # Generated clients get the seeds' paths too; the deprecation points them at the names to use.
    paths = requests.get(f"{server.url}/openapi.json", timeout=30).json()["paths"]
    for (method, alias), canonical in SEED_ALIASES.items():
        assert paths[alias][method].get("deprecated") is True, alias
        assert not paths[canonical][method].get("deprecated"), canonical
        assert paths[alias][method]["responses"].keys() == paths[canonical][method]["responses"].keys()


def test_seed_004_traditional_form_upload_with_curl(server: RunningServer, user: User, tmp_path: Path) -> None:
    """Seed 004's Example 1, its curl command unchanged but for the Authorization header."""
    import shutil
    import subprocess

    make_clip(tmp_path / "video.mp4", seconds=2)
    curl = shutil.which("curl")
    assert curl, "curl is part of the test environment"
    command = [
        curl,
        "-sS",
        "-X",
        "POST",
        f"{server.url}/api/jobs/",
        "-F",
        "media_file=@video.mp4",
        "-F",
        "num_segments=5",
    ]
    result = subprocess.run(
        [*command, "-H", f"Authorization: Bearer {user.token}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    answer = json.loads(result.stdout)
    assert answer["status"] == "pending" and answer["file_type"] == "video", answer
    doc = wait_for_job(user, answer["status_url"])
    assert doc["status"] == "completed" and doc["options"]["clips"] == {"count": 5}, doc


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({"num_segments": "5"}, 422, "invalid_request"),  # no media_file
        ({"num_segments": "five", "file": ("v.mp4", b"\0" * 100, "video/mp4")}, 422, "invalid_request"),
        ({"num_segments": "500", "file": ("v.mp4", b"\0" * 100, "video/mp4")}, 422, "invalid_request"),
        ({"file": ("notes.txt", b"hello", "text/plain")}, 415, None),
        ({"file": ("big.mp4", b"\0" * (7 * 1024 * 1024), "video/mp4")}, 413, None),  # over this server's 6 MiB
    ],
)
def test_the_form_path_refuses_bad_forms_with_a_reason(
    server: RunningServer, user: User, form: dict, status: int, code: str | None
) -> None:
    files = {"media_file": form.pop("file")} if "file" in form else None
    answer = requests.post(f"{server.url}/api/jobs/", data=form, files=files, headers=user.headers, timeout=30)
    assert answer.status_code == status, answer.text
    assert answer.json()["detail"] and (code is None or answer.json()["code"] == code)
    unauthenticated = requests.post(f"{server.url}/api/jobs/", data=form, files=files, timeout=30)
    assert unauthenticated.status_code == 401
