"""The folder store ("This computer", `reeldrop-server --storage DIR`): S3's contract, signed by this server,
and durable across restarts. The upload and seed-client tests written for S3 run here again, unchanged."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import google_crc32c
import pytest
import requests
from botocore.exceptions import ClientError

from app.core.transfer.retry import FailureKind, classify_response
from app.server.file_store import FileStore, check_key
from tests.server.test_seed_clients import (  # noqa: F401 - collected again here, on the folder store
    test_an_upload_abandoned_after_the_form_leaves_nothing,
    test_complete_takes_whichever_upload_the_client_used,
    test_seed_003_curl_form_upload,
    test_seed_003_flow,
    test_seed_003_snippet_at_its_own_size_above_the_multipart_threshold,
    test_seed_004_flow,
    test_seed_004_snippet_above_the_threshold_gets_the_form_and_its_file_type,
    test_seed_004_traditional_form_upload_with_curl,
    test_the_form_is_checked_like_any_post_upload,
    test_which_answers_carry_the_form,
    wait_for_job,
)
from tests.server.test_streaming_uploads import (  # noqa: F401
    complete,
    test_a_size_that_is_not_what_s3_holds_fails_the_upload,
    test_a_streaming_upload_completes_with_fewer_parts_and_its_real_size,
)
from tests.server.test_uploads import (  # noqa: F401
    presign,
    test_a_deleted_upload_removes_its_object,
    test_abort_leaves_no_parts_behind,
    test_complete_before_any_upload_says_nothing_arrived,
    test_complete_refuses_missing_or_unordered_parts,
    test_list_parts_pages_through_every_part,
    test_multipart_flow_with_part_checksums,
    test_presigned_post_flow_lands_the_exact_bytes,
    test_size_mismatch_on_complete_fails_the_upload_and_deletes_the_object,
)
from tests.support.files import make_clip, random_file
from tests.support.servers import RunningServer, User, folder_store_server

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"S3_MULTIPART_THRESHOLD": str(6 * MIB)}
    with folder_store_server(tmp_path_factory.mktemp("folder-server"), env=env) as running:
        yield running


def store_of(server: RunningServer) -> FileStore:
    assert isinstance(server.services.store, FileStore)
    return server.services.store


def s3_code(response: requests.Response) -> str:
    return response.text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in response.text else ""


def sign_part(user: User, upload_id: str, number: int, **checks: str) -> dict:
    answer = user.call("POST", f"/api/upload/{upload_id}/parts", json={"parts": [{"part_number": number, **checks}]})
    assert answer.status_code == 200, answer.text
    return answer.json()["parts"][0]


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def crc_b64(data: bytes) -> str:
    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


def multipart(user: User, tmp_path: Path, size: int = 11 * MIB) -> tuple[dict, bytes]:
    path = tmp_path / "big.mp4"
    random_file(path, size)
    return presign(user, path, part_size=5 * MIB), path.read_bytes()


def nothing_in_tmp(server: RunningServer) -> bool:
    return not any(store_of(server).tmp.iterdir())


# -- authentication -------------------------------------------------------------------------------
def test_a_post_whose_key_was_changed_to_another_users_pending_key_is_refused(
    server: RunningServer, user: User, other_user: User, tmp_path: Path
) -> None:
    clip = tmp_path / "mine.mp4"
    random_file(clip, 200_000)
    theirs = presign(other_user, clip)
    mine = presign(user, clip)
    fields = {**mine["upload_fields"], "key": theirs["s3_key"]}
    with clip.open("rb") as f:
        answer = requests.post(mine["upload_url"], data=fields, files={"file": f}, timeout=30)
    assert answer.status_code == 403 and s3_code(answer) == "AccessDenied", answer.text
    assert server.services.store.head(theirs["s3_key"]) is None and nothing_in_tmp(server)
    # a field the policy does not list is refused too (S3: "Extra input fields")
    extra = {**mine["upload_fields"], "x-amz-meta-owner": "someone else"}
    with clip.open("rb") as f:
        answer = requests.post(mine["upload_url"], data=extra, files={"file": f}, timeout=30)
    assert answer.status_code == 403 and "Extra input fields" in answer.text
    # the form as signed still works
    with clip.open("rb") as f:
        assert requests.post(mine["upload_url"], data=mine["upload_fields"], files={"file": f}, timeout=30).ok


def test_a_url_for_one_key_cannot_write_or_read_another(server: RunningServer, user: User, tmp_path: Path) -> None:
    data, blob = multipart(user, tmp_path)
    signed = sign_part(user, data["upload_id"], 1)
    other_key = data["s3_key"].replace("big.mp4", "other.mp4")
    moved = signed["url"].replace("/big.mp4?", "/other.mp4?")
    assert requests.put(moved, data=blob[: 5 * MIB], timeout=30).status_code == 403
    forged = signed["url"][:-4] + ("0000" if not signed["url"].endswith("0000") else "1111")
    answer = requests.put(forged, data=blob[: 5 * MIB], timeout=30)
    assert answer.status_code == 403 and s3_code(answer) == "SignatureDoesNotMatch"
    as_get = requests.get(signed["url"], timeout=30)  # a PUT URL is not a GET URL
    assert as_get.status_code == 403
    assert server.services.store.head(other_key) is None and nothing_in_tmp(server)
    assert server.services.store.list_parts(data["s3_key"], upload_id_of(server, data)) == []
    unsigned = f"{server.url}/storage/{data['s3_key']}"
    assert requests.get(unsigned, timeout=30).status_code == 403


def upload_id_of(server: RunningServer, data: dict) -> str:
    from app.server.db import Upload

    with server.services.db.session() as session:
        upload = session.get(Upload, data["upload_id"])
        assert upload is not None and upload.s3_upload_id
        return upload.s3_upload_id


def test_an_expired_url_is_refused_the_way_the_client_signs_again(server: RunningServer, user: User) -> None:
    store = store_of(server)
    store.put_bytes("videos/9/expiring.bin", b"x" * 100, "application/octet-stream")
    url = store.presigned_get_url("videos/9/expiring.bin", expires_in=-1)
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 403 and "Request has expired" in answer.text
    failure = classify_response(answer)
    assert failure is not None and failure.kind is FailureKind.RESIGN
    assert requests.get(store.presigned_get_url("videos/9/expiring.bin", 60), timeout=30).content == b"x" * 100


def test_the_signed_checks_are_enforced_on_every_part(server: RunningServer, user: User, tmp_path: Path) -> None:
    data, blob = multipart(user, tmp_path)
    first = blob[: 5 * MIB]
    # A Content-MD5 that is not the bytes': S3's 400 BadDigest, and nothing is kept.
    signed = sign_part(user, data["upload_id"], 1, content_md5=md5_b64(b"something else"))
    answer = requests.put(signed["url"], data=first, headers=signed["headers"], timeout=30)
    assert answer.status_code == 400 and s3_code(answer) == "BadDigest"
    # The signed header left out: the signature no longer matches.
    assert requests.put(signed["url"], data=first, timeout=30).status_code == 403
    signed = sign_part(user, data["upload_id"], 1, checksum_crc32c=crc_b64(b"other bytes"))
    answer = requests.put(signed["url"], data=first, headers=signed["headers"], timeout=30)
    assert answer.status_code == 400 and "CRC32C" in answer.text
    # Larger than the upload's part size: refused before a byte is stored, with or without Content-Length.
    signed = sign_part(user, data["upload_id"], 1)
    answer = requests.put(signed["url"], data=blob[: 5 * MIB + 1], timeout=30)
    assert answer.status_code == 400 and s3_code(answer) == "EntityTooLarge"
    answer = requests.put(signed["url"], data=iter([blob[: 3 * MIB], blob[3 * MIB : 5 * MIB + 10]]), timeout=30)
    assert answer.status_code == 400 and s3_code(answer) == "EntityTooLarge"
    assert server.services.store.list_parts(data["s3_key"], upload_id_of(server, data)) == [] and nothing_in_tmp(server)
    # The right bytes with the right checks: stored, ETag = MD5, as S3.
    signed = sign_part(user, data["upload_id"], 1, content_md5=md5_b64(first), checksum_crc32c=crc_b64(first))
    answer = requests.put(signed["url"], data=first, headers=signed["headers"], timeout=30)
    assert answer.status_code == 200 and answer.headers["ETag"] == f'"{hashlib.md5(first).hexdigest()}"'


def test_range_gets_answer_206_with_content_range(server: RunningServer) -> None:
    store = store_of(server)
    blob = bytes(range(256)) * 40
    store.put_bytes("videos/9/ranged.bin", blob, "application/octet-stream")
    url = store.presigned_get_url("videos/9/ranged.bin", 60, download_name="ranged.bin")
    answer = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=30)
    assert answer.status_code == 206 and answer.content == blob[100:200]
    assert answer.headers["Content-Range"] == f"bytes 100-199/{len(blob)}"
    assert answer.headers["Content-Disposition"] == 'attachment; filename="ranged.bin"'
    assert requests.get(url, headers={"Range": "bytes=-10"}, timeout=30).content == blob[-10:]
    assert requests.get(url, headers={"Range": f"bytes={len(blob)}-"}, timeout=30).status_code == 416
    head = requests.head(url, timeout=30)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(blob))


def test_bad_forms_get_a_clear_s3_error_and_store_nothing(server: RunningServer, user: User, tmp_path: Path) -> None:
    clip = tmp_path / "form.mp4"
    random_file(clip, 50_000)
    data = presign(user, clip)
    url, fields = data["upload_url"], data["upload_fields"]
    no_file = requests.post(url, files={k: (None, v) for k, v in fields.items()}, timeout=30)
    assert no_file.status_code == 400 and "no complete file" in no_file.text
    empty = requests.post(url, data=fields, files={"file": ("form.mp4", b"")}, timeout=30)
    assert empty.status_code == 400 and s3_code(empty) == "EntityTooSmall"
    too_big = requests.post(url, data=fields, files={"file": ("form.mp4", b"x" * 50_001)}, timeout=30)
    assert too_big.status_code == 400 and s3_code(too_big) == "EntityTooLarge"
    huge_field = requests.post(url, data={**fields, "pad": "x" * 200_000}, files={"file": b"x"}, timeout=30)
    assert huge_field.status_code == 400 and "too large" in huge_field.text
    not_a_form = requests.post(url, data=b"key=x", headers={"Content-Type": "text/plain"}, timeout=30)
    assert not_a_form.status_code == 400
    unsigned = requests.post(url, data={"key": fields["key"]}, files={"file": b"x"}, timeout=30)
    assert unsigned.status_code == 403
    assert server.services.store.head(data["s3_key"]) is None and nothing_in_tmp(server)


@pytest.mark.parametrize("key", ["", "a//b", "../etc/passwd", "temp/../../x", "temp/./x", "a\\b", "a\x00b", "a/\nb"])
def test_keys_that_could_leave_the_folder_are_refused(server: RunningServer, key: str) -> None:
    with pytest.raises(ClientError):
        check_key(key)
    with pytest.raises(ClientError):
        store_of(server).put_bytes(key, b"x", "text/plain")


# -- durability -----------------------------------------------------------------------------------
def test_an_unfinished_multipart_upload_resumes_at_the_part_level_after_a_restart(tmp_path: Path) -> None:
    random_file(tmp_path / "long.mp4", 11 * MIB)
    blob = (tmp_path / "long.mp4").read_bytes()
    with folder_store_server(tmp_path / "data") as first:
        user = first.add_user("creator")
        data = presign(user, tmp_path / "long.mp4", part_size=5 * MIB, resumable=True)
        etags = {}
        for number in (1, 2):
            signed = sign_part(user, data["upload_id"], number)
            part = blob[(number - 1) * 5 * MIB : number * 5 * MIB]
            etags[number] = requests.put(signed["url"], data=part, timeout=30).headers["ETag"]
        old_url = sign_part(user, data["upload_id"], 3)["url"]
    with folder_store_server(tmp_path / "data") as second:
        token = requests.post(
            f"{second.url}/api/auth/token", json={"username": "creator", "password": user.password}, timeout=30
        ).json()["access_token"]
        user = User("creator", user.password, token, second.url)
        listed = user.call("GET", f"/api/upload/{data['upload_id']}/parts").json()
        assert [(p["part_number"], p["etag"], p["size"]) for p in listed] == [
            (1, etags[1], 5 * MIB),
            (2, etags[2], 5 * MIB),
        ]
        # A URL signed by the process before the restart is refused; a new one works.
        moved = old_url.split("/storage/", 1)[1]
        assert requests.put(f"{second.url}/storage/{moved}", data=blob[10 * MIB :], timeout=30).status_code == 403
        signed = sign_part(user, data["upload_id"], 3)
        etags[3] = requests.put(signed["url"], data=blob[10 * MIB :], timeout=30).headers["ETag"]
        parts = [{"part_number": n, "etag": etags[n]} for n in (1, 2, 3)]
        done = complete(user, data, parts=parts)
        assert done.status_code == 200 and done.json()["size"] == len(blob), done.text
        url = user.call("GET", f"/api/upload/{data['upload_id']}/download").json()["url"]
        assert hashlib.sha256(requests.get(url, timeout=60).content).digest() == hashlib.sha256(blob).digest()


def test_a_finished_jobs_results_download_after_a_restart(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "keep me.mp4", seconds=1, size="160x120")
    with folder_store_server(tmp_path / "data") as first:
        user = first.add_user("keeper")
        data = presign(user, clip)
        with clip.open("rb") as f:
            assert requests.post(data["upload_url"], data=data["upload_fields"], files={"file": f}, timeout=30).ok
        assert user.call("POST", f"/api/upload/{data['upload_id']}/complete", json={}).status_code == 200
        job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"]}).json()
        doc = wait_for_job(user, f"/api/jobs/{job['job_id']}", timeout=120)
        assert doc["status"] == "completed", doc
        before = user.call("GET", f"/api/jobs/{job['job_id']}/results.zip").content
    with folder_store_server(tmp_path / "data") as second:
        token = requests.post(
            f"{second.url}/api/auth/token", json={"username": "keeper", "password": user.password}, timeout=30
        ).json()["access_token"]
        user = User("keeper", user.password, token, second.url)
        answer = user.call("GET", f"/api/jobs/{job['job_id']}/results.zip")
        assert answer.status_code == 200 and answer.content == before
        assert hashlib.sha256(answer.content).hexdigest() == answer.headers["X-Content-SHA256"]
        assert "manifest.json" in zipfile.ZipFile(io.BytesIO(answer.content)).namelist()
        url = user.call("GET", f"/api/jobs/{job['job_id']}/results/url").json()["url"]
        assert requests.get(url, timeout=30).content == before


def test_debris_of_a_killed_write_is_swept_and_never_served(server: RunningServer) -> None:
    store = store_of(server)
    debris = store.new_temp()
    debris.write_bytes(b"half a part")
    old = time.time() - 2 * 3600
    os.utime(debris, (old, old))
    fresh = store.new_temp()
    fresh.write_bytes(b"a write in progress")
    # An object whose meta file never got written is not there.
    store.object_path("videos/9/orphan.bin").parent.mkdir(parents=True, exist_ok=True)
    store.object_path("videos/9/orphan.bin").write_bytes(b"no meta")
    assert store.head("videos/9/orphan.bin") is None
    assert store.sweep_tmp(3600) == 1
    assert not debris.exists() and fresh.exists()
    fresh.unlink()
    store.delete("videos/9/orphan.bin")
    assert not store.object_path("videos/9/orphan.bin").exists()


# -- disk -----------------------------------------------------------------------------------------
def finished_job(user: User, clip: Path) -> str:
    data = presign(user, clip)
    with clip.open("rb") as f:
        assert requests.post(data["upload_url"], data=data["upload_fields"], files={"file": f}, timeout=30).ok
    assert user.call("POST", f"/api/upload/{data['upload_id']}/complete", json={}).status_code == 200
    job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"]}).json()
    assert wait_for_job(user, f"/api/jobs/{job['job_id']}", timeout=120)["status"] == "completed"
    return job["job_id"]


def test_free_space_and_retention_remove_finished_jobs_files_but_not_the_kept_ones(
    server: RunningServer, user: User, other_user: User, tmp_path: Path
) -> None:
    from datetime import timedelta

    from app.server.db import Job
    from app.server.retention import RetentionSweeper

    clip = make_clip(tmp_path / "space.mp4", seconds=1, size="160x120")
    kept, freed, old, theirs = (finished_job(u, clip) for u in (user, user, user, other_user))
    store = store_of(server)
    before = store.disk_usage()
    answer = user.call("POST", "/api/storage/free", json={"keep_job_ids": [kept, old]})
    assert answer.status_code == 200 and answer.json()["jobs"] == 1 and answer.json()["freed_bytes"] > 0
    assert store.disk_usage() <= before - answer.json()["freed_bytes"]
    gone = user.call("GET", f"/api/jobs/{freed}/results.zip")
    assert gone.status_code == 410 and gone.json()["code"] == "results_removed"
    assert "free space" in gone.json()["detail"].lower()
    for job_id, owner in ((kept, user), (old, user), (theirs, other_user)):  # another user's jobs: untouched
        assert owner.call("GET", f"/api/jobs/{job_id}/results.zip").status_code == 200
    # The retention setting: only jobs finished longer ago than it says.
    with server.services.db.session() as session:
        job = session.get(Job, old)
        assert job is not None
        job.updated_at = job.updated_at - timedelta(days=8)
    swept = RetentionSweeper(server.services, days=7, interval_s=3600).sweep_once()
    assert swept.jobs == 1
    assert user.call("GET", f"/api/jobs/{old}/results.zip").status_code == 410
    assert user.call("GET", f"/api/jobs/{kept}/results.zip").status_code == 200
    bad = user.call("POST", "/api/storage/free", json={"keep_job_ids": "all"})
    assert bad.status_code == 422


def test_the_temp_sweep_aborts_old_unfinished_uploads_and_keeps_new_ones(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from app.server.cleanup import sweep_temp
    from app.server.db import Upload

    random_file(tmp_path / "abandoned.mp4", 11 * MIB)
    with folder_store_server(tmp_path / "data", run_worker=False) as running:
        user = running.add_user()
        old = presign(user, tmp_path / "abandoned.mp4", part_size=5 * MIB, resumable=True)
        new = presign(user, tmp_path / "abandoned.mp4", part_size=5 * MIB, resumable=True)
        signed = sign_part(user, old["upload_id"], 1)
        assert requests.put(signed["url"], data=b"x" * 5 * MIB, timeout=30).ok
        store = store_of(running)
        old_id = upload_id_of(running, old)
        record = store.multipart / old_id / "upload.json"
        record.write_text(record.read_text().replace(datetime.now(UTC).strftime("%Y-%m-%d"), "2020-01-01"))
        with running.services.db.session() as session:
            upload = session.get(Upload, old["upload_id"])
            assert upload is not None
            upload.created_at = upload.created_at - timedelta(days=3)
        with running.services.db.session() as session:
            outcome = sweep_temp(running.services, session, datetime.now(UTC) - timedelta(hours=24))
        assert outcome["aborted_multipart_uploads"] == 1
        assert not (store.multipart / old_id).exists() and (store.multipart / upload_id_of(running, new)).exists()
        assert user.call("GET", f"/api/upload/{old['upload_id']}").json()["status"] == "aborted"
        assert user.call("GET", f"/api/upload/{new['upload_id']}").json()["status"] == "pending"


def test_complete_refuses_an_object_that_names_another_upload(
    server: RunningServer, user: User, tmp_path: Path
) -> None:
    clip = tmp_path / "swap.mp4"
    random_file(clip, 40_000)
    mine, other = presign(user, clip), presign(user, clip)
    # Bytes at my key whose metadata says they were sent for the other upload (a confused or hostile client
    # that holds both policies): complete must not take them as mine.
    store_of(server).commit(
        mine["s3_key"],
        store_of(server).write_temp(iter([clip.read_bytes()])),
        "video/mp4",
        {"upload-id": other["upload_id"]},
    )
    done = user.call("POST", f"/api/upload/{mine['upload_id']}/complete", json={})
    assert done.status_code == 400 and done.json()["code"] == "object_mismatch", done.text
    assert server.services.store.head(mine["s3_key"]) is None


def test_an_s3_client_with_made_up_credentials_gets_nothing_from_the_built_in_store(
    server: RunningServer, user: User, tmp_path: Path
) -> None:
    """Issue 14 item 7: "This computer"'s store is no open S3. boto3, signing with invented keys, cannot
    list, read, write or delete: every object URL carries this server's own signature (random per process
    unless REELDROP_STORAGE_SECRET is set)."""
    import boto3
    from botocore.config import Config

    path = tmp_path / "private.mp4"
    random_file(path, 2000)
    key = f"temp/{user.username}/private.mp4"
    server.services.store.put_bytes(key, path.read_bytes(), "video/mp4")
    bucket = server.services.config.bucket
    intruder = boto3.client(
        "s3",
        endpoint_url=f"{server.url}/storage",
        region_name="us-east-1",
        aws_access_key_id="AKIAMADEUP",
        aws_secret_access_key="made-up-secret",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    attempts = {
        "list": lambda: intruder.list_objects_v2(Bucket=bucket),
        "read": lambda: intruder.get_object(Bucket=bucket, Key=key),
        "write": lambda: intruder.put_object(Bucket=bucket, Key=key, Body=b"overwritten"),
        "delete": lambda: intruder.delete_object(Bucket=bucket, Key=key),
    }
    for name, attempt in attempts.items():
        with pytest.raises(ClientError):
            attempt()
        assert server.services.store.head(key) is not None, name
    body = server.services.store.open_stream(key)["Body"]
    assert body.read() == path.read_bytes()  # untouched
