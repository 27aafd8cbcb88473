"""Issue 14 item 4: the quota holds under concurrent requests and counts outputs; open uploads and active
jobs per user are capped (429 with Retry-After)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.server.db import Job, JobItem, Upload
from app.server.db import User as UserRow
from tests.server.test_jobs import upload
from tests.support.files import make_clip
from tests.support.servers import RunningServer, User, reeldrop_server

MB = 1_000_000


@pytest.fixture(scope="module")
def capped(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"REELDROP_MAX_PENDING_UPLOADS": "3", "REELDROP_MAX_ACTIVE_JOBS": "2"}
    with reeldrop_server(s3_endpoint, tmp_path_factory.mktemp("capped"), env=env, run_worker=False) as running:
        yield running


def presign(user: User, size: int, name: str = "a.mp4"):  # type: ignore[no-untyped-def]
    body = {"filename": name, "file_size": size, "content_type": "video/mp4"}
    return user.call("POST", "/api/upload/presigned-url", json=body)


def test_twenty_presigns_at_once_cannot_overrun_the_quota(server: RunningServer) -> None:
    user = server.add_user(quota=10 * MB)
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda n: presign(user, 6 * MB, f"{n}.mp4"), range(20)))
    accepted = [a for a in answers if a.status_code == 200]
    assert len(accepted) == 1, [a.status_code for a in answers]
    assert all(a.json()["code"] == "quota_exceeded" for a in answers if a.status_code != 200)
    assert user.call("GET", "/api/me").json()["used_bytes"] == 6 * MB


def test_outputs_and_results_count_against_the_quota(server: RunningServer) -> None:
    user = server.add_user(quota=10 * MB)
    with server.services.db.session() as session:
        row = session.query(UserRow).filter_by(username=user.username).one()
        original = Upload(
            user_id=row.id, filename="f.mp4", content_type="video/mp4", declared_size=3 * MB, s3_key="temp/q/f.mp4"
        )
        original.status, original.method = "deleted", "POST"  # deleted after processing: no longer counted
        session.add(original)
        session.flush()
        job = Job(user_id=row.id, upload_id=original.id, s3_key=original.s3_key, status="completed", options={})
        job.result_key, job.result_size = "results/q.zip", 2 * MB
        job.items.append(
            JobItem(item_id="rendition_720p", kind="rendition", status="completed", s3_key="v/q", size=4 * MB)
        )
        job.items.append(JobItem(item_id="audio", kind="audio", status="deleted", s3_key="p/q", size=MB))
        session.add(job)
    assert user.call("GET", "/api/me").json()["used_bytes"] == 6 * MB  # 4 MB kept rendition + 2 MB ZIP
    refused = presign(user, 5 * MB)
    assert refused.status_code == 413 and "4000000 left" in refused.json()["detail"], refused.text
    assert presign(user, 4 * MB).status_code == 200


def test_open_uploads_and_active_jobs_are_capped_per_user(capped: RunningServer, tmp_path: Path) -> None:
    user, other = capped.add_user(), capped.add_user()
    for n in range(3):
        assert presign(user, MB, f"{n}.mp4").status_code == 200
    refused = presign(user, MB, "3.mp4")
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_pending_uploads", refused.text
    assert refused.headers["Retry-After"] == "60"
    assert presign(other, MB).status_code == 200  # another user's uploads are their own

    done = upload(other, make_clip(tmp_path / "clip.mp4", seconds=1, size="160x120"))  # completed: not open
    body = {"upload_id": done["upload_id"], "options": {"renditions": ["240p"]}}
    assert [other.call("POST", "/api/jobs", json=body).status_code for _ in range(2)] == [200, 200]
    too_many = other.call("POST", "/api/jobs", json=body)
    assert too_many.status_code == 429 and too_many.json()["code"] == "too_many_jobs", too_many.text
    assert too_many.headers["Retry-After"] == "30"
    first = other.call("GET", "/api/jobs").json()["jobs"][0]["job_id"]
    assert other.call("POST", f"/api/jobs/{first}/cancel").status_code == 200  # one ends: room for another
    assert other.call("POST", "/api/jobs", json=body).status_code == 200
