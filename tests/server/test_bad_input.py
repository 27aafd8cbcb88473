"""Every bad form of an upload request gets a 4xx with a clear code, and nothing is created."""

from __future__ import annotations

import pytest
import requests

from app.server.db import Upload
from app.server.db import User as User_
from tests.support.servers import RunningServer, User

GIB = 1024**3


def _presign(user: User, **body) -> requests.Response:
    base = {"filename": "clip.mp4", "file_size": 1000, "content_type": "video/mp4"}
    return user.call("POST", "/api/upload/presigned-url", json={**base, **body})


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"content_type": "application/x-msdownload"}, 415, "unsupported_media_type"),
        ({"content_type": "image/png"}, 415, "unsupported_media_type"),
        ({"content_type": "text/html"}, 415, "unsupported_media_type"),
        ({"content_type": None, "filename": "setup.exe"}, 415, "unsupported_media_type"),
        ({"file_size": 0}, 400, "empty_file"),
        ({"file_size": -5}, 400, "empty_file"),
        ({"file_size": 51 * GIB}, 413, "file_too_large"),
        ({"filename": "../../etc/passwd.mp4"}, 400, "invalid_filename"),
        ({"filename": "folder/clip.mp4"}, 400, "invalid_filename"),
        ({"filename": "C:\\Users\\me\\clip.mp4"}, 400, "invalid_filename"),
        ({"filename": "clip\r\n.mp4"}, 400, "invalid_filename"),
        ({"filename": "clip\x00.mp4"}, 400, "invalid_filename"),
        ({"filename": ""}, 400, "invalid_filename"),
        ({"filename": "x" * 300 + ".mp4"}, 400, "invalid_filename"),
        ({"file_size": "lots"}, 422, "invalid_request"),
        ({"filename": None}, 422, "invalid_request"),
    ],
)
def test_bad_presign_requests_are_refused(
    user: User, server: RunningServer, body: dict, status: int, code: str
) -> None:
    answer = _presign(user, **body)
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code
    assert answer.json()["detail"]
    with server.services.db.session() as session:
        owner = session.query(User_).filter_by(username=user.username).one()
        assert session.query(Upload).filter_by(user_id=owner.id).count() == 0


def test_malformed_json_gets_400(user: User) -> None:
    for path in ("/api/upload/presigned-url", "/api/upload/create-job", "/api/auth/token", "/process/video/s3"):
        answer = user.call("POST", path, data=b"{not json", headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["code"] == "malformed_json"


def test_missing_fields_get_422_naming_the_field(user: User) -> None:
    answer = user.call("POST", "/api/upload/presigned-url", json={"filename": "a.mp4"})
    assert answer.status_code == 422
    assert "file_size" in answer.json()["detail"]


def test_quota_is_enforced(server: RunningServer) -> None:
    small = server.add_user(quota=5000)
    first = small.call(
        "POST", "/api/upload/presigned-url", json={"filename": "a.mp4", "file_size": 4000, "content_type": "video/mp4"}
    )
    assert first.status_code == 200
    second = small.call(
        "POST", "/api/upload/presigned-url", json={"filename": "b.mp4", "file_size": 4000, "content_type": "video/mp4"}
    )
    assert second.status_code == 413 and second.json()["code"] == "quota_exceeded"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"parts": []}, "invalid_request"),
        ({"parts": [{"part_number": 0}]}, "invalid_part_number"),
        ({"parts": [{"part_number": 99}]}, "invalid_part_number"),
        ({"parts": [{"part_number": "one"}]}, "invalid_request"),
    ],
)
def test_bad_part_requests(user: User, body: dict, code: str) -> None:
    data = _presign(user, file_size=11 * 1024 * 1024, part_size=5 * 1024 * 1024).json()
    answer = user.call("POST", f"/api/upload/{data['upload_id']}/parts", json=body)
    assert answer.status_code in (400, 422) and answer.json()["code"] == code


def test_parts_of_a_post_upload_are_refused(user: User) -> None:
    data = _presign(user).json()
    answer = user.call("POST", f"/api/upload/{data['upload_id']}/parts", json={"parts": [{"part_number": 1}]})
    assert answer.status_code == 409 and answer.json()["code"] == "not_multipart"


@pytest.mark.parametrize(
    "options",
    [
        {"renditions": ["4000p"]},
        {"renditions": "720p"},
        {"clips": {"count": 500}},
        {"thumbnails": -1},
        {"audio": "yes"},
        {"tags": ["x"] * 100},
    ],
)
def test_bad_job_options_are_refused_before_queueing(user: User, options: dict) -> None:
    data = _presign(user).json()
    answer = user.call("POST", "/api/upload/create-job", json={"upload_id": data["upload_id"], "options": options})
    # the object is not uploaded yet: either refusal is correct, but never a 5xx and never a job
    assert answer.status_code in (409, 422), answer.text
    assert user.call("GET", "/api/jobs").json()["total"] == 0


def test_unknown_routes_and_methods(user: User) -> None:
    assert user.call("GET", "/api/nothing-here").json()["code"] == "not_found"
    answer = user.call("PATCH", "/api/upload/presigned-url")
    assert answer.status_code == 405 and answer.json()["code"] == "method_not_allowed"


HUGE = 41934174912195682304  # schemathesis's find: past every 64-bit integer


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"/api/jobs?offset={HUGE}", None),
        ("GET", f"/api/jobs?limit={HUGE}", None),
        ("GET", "/api/jobs?offset=-1", None),
        ("POST", "/api/upload/presigned-url", {"filename": "a.mp4", "file_size": HUGE, "content_type": "video/mp4"}),
        ("POST", "/api/upload/presigned-url", {"filename": "a.mp4", "file_size": 9000, "part_size": HUGE}),
        ("POST", "/process/video/s3", {"s3_key": "temp/x/a.mp4", "frame_skip": HUGE}),
        ("POST", "/process/video/s3", {"s3_key": "temp/x/a.mp4", "min_confidence": "NaN"}),
        ("POST", "/api/jobs", {"upload_id": "x", "num_segments": HUGE}),
    ],
)
def test_out_of_range_numbers_get_422_not_500(user: User, method: str, path: str, body: dict | None) -> None:
    """Issue 14 item 9: every integer a client sends is bounded before it reaches the database."""
    answer = user.call(method, path, json=body) if body is not None else user.call(method, path)
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_request", answer.text


def test_unknown_job_options_are_dropped_not_stored(user: User, tmp_path) -> None:
    """Issue 14 item 11: 5 MB of junk options used to ride along in every status document."""
    from tests.server.test_jobs import upload
    from tests.support.files import make_clip

    data = upload(user, make_clip(tmp_path / "a.mp4", seconds=1, size="160x120"))
    junk = {"junk": "x" * 500_000, "rendition": ["720p"], "title": "Kept"}
    created = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": junk})
    assert created.status_code == 200, created.text
    options = user.call("GET", created.json()["status_url"]).json()["options"]
    assert "junk" not in options and "rendition" not in options and options["title"] == "Kept"
    too_big = {"extra": {"notes": "x" * 5000}}
    answer = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": too_big})
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_options", answer.text
