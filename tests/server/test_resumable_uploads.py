"""`resumable: true` on presigned-url: multipart under the POST threshold, for clients that ask (issue 12.4).

Against a backend with the default POST threshold (100 MiB, as a creator's server has it), not the small
test threshold of the shared `server` fixture: a 39 MB file is exactly the size that used to get a POST.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from app.server.db import Upload
from app.server.db import User as User_
from tests.server.test_uploads import object_sha256
from tests.support.files import random_file
from tests.support.servers import RunningServer, User, reeldrop_server

MIB = 1024 * 1024
THIRTY_NINE_MB = 39_000_000
SEED_ANSWER_KEYS = {
    "upload_id", "method", "upload_url", "upload_fields", "s3_key", "bucket", "expires_in", "max_file_size",
    "job_id", "status_url", "file_type", "id",
}  # fmt: skip


@pytest.fixture(scope="module")
def default_server(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with reeldrop_server(s3_endpoint, tmp_path_factory.mktemp("default-threshold")) as running:
        assert running.services.config.multipart_threshold == 100 * MIB
        yield running


@pytest.fixture
def creator(default_server: RunningServer) -> User:
    return default_server.add_user()


def _presign(user: User, file_size: int, **extra: object) -> requests.Response:
    body = {"filename": "talk.mp4", "file_size": file_size, "content_type": "video/mp4", **extra}
    return user.call("POST", "/api/upload/presigned-url", json=body)


def _uploads_of(server: RunningServer, user: User) -> list[Upload]:
    with server.services.db.session() as session:
        owner = session.query(User_).filter_by(username=user.username).one()
        uploads = session.query(Upload).filter_by(user_id=owner.id).all()
        session.expunge_all()
        return uploads


def test_resumable_gets_multipart_for_a_39_mb_file_under_the_post_threshold(
    default_server: RunningServer, creator: User
) -> None:
    answer = _presign(creator, THIRTY_NINE_MB, resumable=True)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["method"] == "MULTIPART"
    assert data["part_size"] == 16 * MIB and data["part_count"] == 3  # the server's default part size
    # The POST form is there too (for the seeds' clients); ReelDrop's client follows `method`.
    assert "upload_url" in data and "upload_fields" in data
    # S3 really has a multipart upload behind it: its parts can be listed (none yet) and signed.
    listed = creator.call("GET", f"/api/upload/{data['upload_id']}/parts")
    assert listed.status_code == 200 and listed.json() == []
    signed = creator.call("POST", f"/api/upload/{data['upload_id']}/parts", json={"parts": [{"part_number": 3}]})
    assert signed.status_code == 200, signed.text
    (upload,) = _uploads_of(default_server, creator)
    assert upload.method == "MULTIPART" and upload.part_count == 3


def test_the_seeds_body_without_the_field_still_gets_the_post_answer(
    default_server: RunningServer, creator: User, tmp_path: Path
) -> None:
    path = tmp_path / "talk.mp4"
    digest = random_file(path, THIRTY_NINE_MB)
    answer = _presign(creator, THIRTY_NINE_MB)  # {filename, file_size, content_type}, as the seeds send it
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["method"] == "POST" and set(data) == SEED_ANSWER_KEYS
    with open(path, "rb") as f:
        posted = requests.post(data["upload_url"], data=data["upload_fields"], files={"file": f}, timeout=120)
    assert posted.status_code == 204, posted.text
    done = creator.call("POST", f"/api/upload/{data['upload_id']}/complete", json={})
    assert done.status_code == 200, done.text
    assert object_sha256(default_server, data["s3_key"]) == digest
    # and saying no is the same as not saying
    assert _presign(creator, THIRTY_NINE_MB, resumable=False).json()["method"] == "POST"


def test_a_file_that_fits_in_one_minimum_part_keeps_the_post(creator: User) -> None:
    assert _presign(creator, 5 * MIB, resumable=True).json()["method"] == "POST"
    assert _presign(creator, 5 * MIB + 1, resumable=True).json()["method"] == "MULTIPART"


def test_above_the_threshold_and_streaming_stay_multipart_whatever_resumable_says(creator: User) -> None:
    assert _presign(creator, 100 * MIB + 1, resumable=False).json()["method"] == "MULTIPART"
    assert _presign(creator, 2 * MIB, streaming=True, resumable=False).json()["method"] == "MULTIPART"


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, None, [], {"on": True}])
def test_a_resumable_that_is_not_a_json_boolean_gets_422(
    default_server: RunningServer, creator: User, value: object
) -> None:
    answer = _presign(creator, THIRTY_NINE_MB, resumable=value)
    assert answer.status_code == 422, answer.text
    error = answer.json()
    assert set(error) == {"detail", "code"} and error["code"] == "invalid_request"
    assert error["detail"].startswith("resumable: ") and "boolean" in error["detail"]
    assert _uploads_of(default_server, creator) == []
