"""Presigned POST and multipart uploads through the real server and moto's S3 server over HTTP."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
import requests

from app.server.db import Upload
from tests.support.files import random_file, sha256_of
from tests.support.servers import RunningServer, User

MIB = 1024 * 1024


def object_sha256(server: RunningServer, key: str) -> str:
    body = server.services.store.open_stream(key)["Body"]  # S3 or the folder store, whichever serves
    digest = hashlib.sha256()
    for block in body.iter_chunks(MIB):
        digest.update(block)
    return digest.hexdigest()


def object_exists(server: RunningServer, key: str) -> bool:
    return server.services.store.head(key) is not None


def presign(user: User, path: Path, content_type: str = "video/mp4", **extra) -> dict:
    body = {"filename": path.name, "file_size": path.stat().st_size, "content_type": content_type, **extra}
    answer = user.call("POST", "/api/upload/presigned-url", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_presigned_post_flow_lands_the_exact_bytes(user: User, server: RunningServer, tmp_path: Path) -> None:
    path = tmp_path / "holiday clip.mp4"
    digest = random_file(path, 3 * MIB + 17)
    data = presign(user, path)
    assert data["method"] == "POST"
    assert data["s3_key"].startswith("temp/") and data["s3_key"].endswith("/holiday_clip.mp4")
    assert data["upload_fields"]["key"] == data["s3_key"]
    assert data["upload_fields"]["Content-Type"] == "video/mp4"
    with open(path, "rb") as f:
        posted = requests.post(data["upload_url"], data=data["upload_fields"], files={"file": f}, timeout=60)
    assert posted.status_code in (200, 201, 204), posted.text
    done = user.call("POST", f"/api/upload/{data['upload_id']}/complete", json={})
    assert done.status_code == 200, done.text
    assert done.json()["size"] == path.stat().st_size
    assert object_sha256(server, data["s3_key"]) == digest
    record = user.call("GET", f"/api/upload/{data['upload_id']}").json()
    assert record["status"] == "uploaded"
    # completing again (a retry after a lost answer) is harmless
    assert user.call("POST", f"/api/upload/{data['upload_id']}/complete", json={}).status_code == 200
    # the presigned download gives the same bytes back
    url = user.call("GET", f"/api/upload/{data['upload_id']}/download").json()["url"]
    got = requests.get(url, timeout=60)
    assert hashlib.sha256(got.content).hexdigest() == digest


def _put_part(url: str, body: bytes, headers: dict) -> requests.Response:
    return requests.put(url, data=body, headers=headers, timeout=60)


def test_multipart_flow_with_part_checksums(user: User, server: RunningServer, tmp_path: Path) -> None:
    path = tmp_path / "long take.mov"
    size = 16 * MIB + 123
    digest = random_file(path, size)
    data = presign(user, path, content_type="video/quicktime", part_size=5 * MIB)
    assert data["method"] == "MULTIPART"
    assert data["part_size"] == 5 * MIB and data["part_count"] == 4
    blobs = []
    with open(path, "rb") as f:
        for _ in range(data["part_count"]):
            blobs.append(f.read(data["part_size"]))
    md5s = [base64.b64encode(hashlib.md5(b).digest()).decode() for b in blobs]
    request = {"parts": [{"part_number": i + 1, "content_md5": md5s[i]} for i in range(len(blobs))]}
    signed = user.call("POST", f"/api/upload/{data['upload_id']}/parts", json=request).json()
    assert [p["part_number"] for p in signed["parts"]] == [1, 2, 3, 4]
    etags = {}
    for part in signed["parts"][:2]:
        answer = _put_part(part["url"], blobs[part["part_number"] - 1], part["headers"])
        assert answer.status_code == 200, answer.text
        etags[part["part_number"]] = answer.headers["ETag"]
    # resume: S3 reports the two parts it holds
    held = user.call("GET", f"/api/upload/{data['upload_id']}/parts").json()
    assert [(p["part_number"], p["size"]) for p in held] == [(1, 5 * MIB), (2, 5 * MIB)]
    # the remaining URLs are signed again (as after an expiry) and used
    again = user.call("POST", f"/api/upload/{data['upload_id']}/parts", json={"parts": request["parts"][2:]})
    for part in again.json()["parts"]:
        answer = _put_part(part["url"], blobs[part["part_number"] - 1], part["headers"])
        assert answer.status_code == 200, answer.text
        etags[part["part_number"]] = answer.headers["ETag"]
    parts = [{"part_number": n, "etag": etags[n]} for n in sorted(etags)]
    done = user.call("POST", f"/api/upload/{data['upload_id']}/complete", json={"parts": parts})
    assert done.status_code == 200, done.text
    assert done.json()["size"] == size
    assert object_sha256(server, data["s3_key"]) == digest == sha256_of(path)


def test_part_urls_sign_the_content_md5_so_s3_verifies_each_part(user: User, tmp_path: Path) -> None:
    """Real S3 answers BadDigest to a part whose bytes do not match the signed Content-MD5.

    moto does not check it (its part ETag is still the MD5 of what it stored, which the client compares).
    """
    path = tmp_path / "a.mp4"
    random_file(path, 11 * MIB)
    data = presign(user, path, part_size=5 * MIB)
    md5 = base64.b64encode(hashlib.md5(b"part one").digest()).decode()
    signed = user.call(
        "POST", f"/api/upload/{data['upload_id']}/parts", json={"parts": [{"part_number": 1, "content_md5": md5}]}
    ).json()["parts"][0]
    assert signed["headers"] == {"Content-MD5": md5}
    assert "content-md5" in signed["url"].split("X-Amz-SignedHeaders=")[1].split("&")[0]
    assert "X-Amz-Expires=3600" in signed["url"]


def test_complete_refuses_missing_or_unordered_parts(user: User, tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    random_file(path, 11 * MIB)
    data = presign(user, path, part_size=5 * MIB)
    answer = user.call(
        "POST", f"/api/upload/{data['upload_id']}/complete", json={"parts": [{"part_number": 1, "etag": '"x"'}]}
    )
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_parts"
    assert "Missing: [2, 3]" in answer.json()["detail"]


def test_list_parts_pages_through_every_part(user: User, server: RunningServer, tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    random_file(path, 16 * MIB)
    data = presign(user, path, part_size=5 * MIB)
    signed = user.call(
        "POST", f"/api/upload/{data['upload_id']}/parts", json={"parts": [{"part_number": n} for n in (1, 2, 3)]}
    ).json()["parts"]
    for part in signed:
        assert _put_part(part["url"], b"x" * (5 * MIB), part["headers"]).status_code == 200
    with server.services.db.session() as session:
        s3_upload_id = session.get(Upload, data["upload_id"]).s3_upload_id
    # pages of two: the store must follow NextPartNumberMarker to the end
    parts = server.services.store.list_parts(data["s3_key"], s3_upload_id, page_size=2)
    assert [p.part_number for p in parts] == [1, 2, 3]


def test_size_mismatch_on_complete_fails_the_upload_and_deletes_the_object(
    user: User, server: RunningServer, tmp_path: Path
) -> None:
    declared = tmp_path / "declared.mp4"
    random_file(declared, 1000)
    data = presign(user, declared)
    actual = tmp_path / "actual.mp4"
    random_file(actual, 999)  # moto does not enforce content-length-range: the HeadObject check must
    with open(actual, "rb") as f:
        requests.post(data["upload_url"], data=data["upload_fields"], files={"file": f}, timeout=60)
    assert object_exists(server, data["s3_key"])
    answer = user.call("POST", f"/api/upload/{data['upload_id']}/complete", json={})
    assert answer.status_code == 400
    assert answer.json()["code"] == "size_mismatch"
    assert "declared.mp4" in answer.json()["detail"]
    assert user.call("GET", f"/api/upload/{data['upload_id']}").json()["status"] == "failed"
    assert not object_exists(server, data["s3_key"])


def test_complete_before_any_upload_says_nothing_arrived(user: User, tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    random_file(path, 10)
    data = presign(user, path)
    answer = user.call("POST", f"/api/upload/{data['upload_id']}/complete", json={})
    assert answer.status_code == 409 and answer.json()["code"] == "object_missing"
    assert user.call("GET", f"/api/upload/{data['upload_id']}").json()["status"] == "pending"


def test_abort_leaves_no_parts_behind(user: User, server: RunningServer, tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    random_file(path, 11 * MIB)
    data = presign(user, path, part_size=5 * MIB)
    part = user.call("POST", f"/api/upload/{data['upload_id']}/parts", json={"parts": [{"part_number": 1}]}).json()[
        "parts"
    ][0]
    assert _put_part(part["url"], b"y" * (5 * MIB), part["headers"]).status_code == 200
    answer = user.call("DELETE", f"/api/upload/{data['upload_id']}")
    assert answer.status_code == 200 and answer.json()["status"] == "aborted"
    uploads = list(server.services.store.list_multipart_uploads(data["s3_key"]))
    assert uploads == []
    again = user.call("GET", f"/api/upload/{data['upload_id']}/parts")
    assert again.status_code == 409 and again.json()["code"] == "upload_not_active"


def test_a_deleted_upload_removes_its_object(user: User, server: RunningServer, tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    random_file(path, 100)
    data = presign(user, path)
    with open(path, "rb") as f:
        requests.post(data["upload_url"], data=data["upload_fields"], files={"file": f}, timeout=60)
    user.call("POST", f"/api/upload/{data['upload_id']}/complete", json={})
    answer = user.call("DELETE", f"/api/upload/{data['upload_id']}")
    assert answer.json()["status"] == "deleted"
    assert not object_exists(server, data["s3_key"])


@pytest.mark.parametrize("preferred", [None, 1, 5 * MIB, 6 * 1024**3])
def test_server_chooses_part_sizes_within_s3_limits(user: User, preferred: int | None) -> None:
    size = 50 * 1024**3  # the default MAX_FILE_SIZE; at 5 MiB it would need 10,240 parts
    answer = user.call(
        "POST",
        "/api/upload/presigned-url",
        json={"filename": "huge.mp4", "file_size": size, "content_type": "video/mp4", "part_size": preferred},
    )
    data = answer.json()
    assert answer.status_code == 200, data
    assert data["part_count"] <= 10_000
    assert 5 * MIB <= data["part_size"] <= 5 * 1024**3
    assert data["part_size"] * data["part_count"] >= size > data["part_size"] * (data["part_count"] - 1)
    user.call("DELETE", f"/api/upload/{data['upload_id']}")


def test_crc32c_uploads_sign_and_verify_every_part(user: User, server: RunningServer, tmp_path: Path) -> None:
    import google_crc32c

    path = tmp_path / "checked.mp4"
    digest = random_file(path, 11 * MIB)
    data = presign(user, path, part_size=5 * MIB, checksum_algorithm="CRC32C")
    assert data["checksum_algorithm"] == "CRC32C" and data["part_count"] == 3
    unsigned = user.call("POST", f"/api/upload/{data['upload_id']}/parts", json={"parts": [{"part_number": 1}]})
    assert unsigned.status_code == 400 and unsigned.json()["code"] == "checksum_required"
    blobs, crcs = [], {}
    with open(path, "rb") as f:
        for n in (1, 2, 3):
            blobs.append(f.read(5 * MIB))
            crcs[n] = base64.b64encode(google_crc32c.value(blobs[-1]).to_bytes(4, "big")).decode()
    request = {"parts": [{"part_number": n, "checksum_crc32c": crcs[n]} for n in (1, 2, 3)]}
    signed = user.call("POST", f"/api/upload/{data['upload_id']}/parts", json=request).json()["parts"]
    parts = []
    for part in signed:
        assert part["headers"] == {"x-amz-checksum-crc32c": crcs[part["part_number"]]}
        assert "x-amz-checksum-crc32c" in part["url"].split("X-Amz-SignedHeaders=")[1].split("&")[0]
        answer = _put_part(part["url"], blobs[part["part_number"] - 1], part["headers"])
        assert answer.status_code == 200
        parts.append(
            {
                "part_number": part["part_number"],
                "etag": answer.headers["ETag"],
                "checksum_crc32c": crcs[part["part_number"]],
            }
        )
    done = user.call("POST", f"/api/upload/{data['upload_id']}/complete", json={"parts": parts, "sha256": digest})
    assert done.status_code == 200, done.text
    assert done.json()["sha256"] == digest
    assert object_sha256(server, data["s3_key"]) == digest
    malformed = user.call(
        "POST", f"/api/upload/{data['upload_id']}/parts", json={"parts": [{"part_number": 1, "checksum_crc32c": "zz"}]}
    )
    assert malformed.status_code == 422


def test_part_urls_sign_the_parts_length_and_refuse_other_lengths(user: User, tmp_path: Path) -> None:
    """Issue 14 item 8: a 64 MiB body went through the part URL of a 6 MiB upload. A part's URL now signs
    its exact length (S3: a signed Content-Length header, which moto does not check; the folder store: its
    own bound, checked below)."""
    path = tmp_path / "a.mp4"
    random_file(path, 11 * MIB)
    data = presign(user, path, part_size=5 * MIB)
    parts_url = f"/api/upload/{data['upload_id']}/parts"
    signed = user.call("POST", parts_url, json={"parts": [{"part_number": 1, "content_length": 5 * MIB}]}).json()
    part = signed["parts"][0]
    assert part["headers"] == {"Content-Length": str(5 * MIB)}
    assert "content-length" in part["url"].split("X-Amz-SignedHeaders=")[1].split("&")[0]
    for number, length in ((1, 64 * MIB), (1, 5 * MIB - 1), (3, 5 * MIB), (3, MIB + 1)):
        refused = user.call("POST", parts_url, json={"parts": [{"part_number": number, "content_length": length}]})
        assert refused.status_code == 400 and refused.json()["code"] == "wrong_part_size", (number, length)
    last = user.call("POST", parts_url, json={"parts": [{"part_number": 3, "content_length": MIB}]})
    assert last.status_code == 200, last.text


def test_the_folder_store_refuses_a_body_longer_than_the_signed_length(tmp_path: Path) -> None:
    from tests.support.servers import folder_store_server

    with folder_store_server(tmp_path / "data") as running:
        owner = running.add_user()
        path = tmp_path / "b.mp4"
        random_file(path, 11 * MIB)
        data = presign(owner, path, part_size=5 * MIB, resumable=True)  # multipart under the POST threshold
        parts_url = f"/api/upload/{data['upload_id']}/parts"
        signed = owner.call("POST", parts_url, json={"parts": [{"part_number": 3, "content_length": MIB}]}).json()
        url = signed["parts"][0]["url"]
        too_long = requests.put(url, data=b"x" * (MIB + 1), timeout=30)
        assert too_long.status_code == 400 and b"EntityTooLarge" in too_long.content, too_long.text
        assert requests.put(url, data=path.read_bytes()[10 * MIB :], timeout=30).status_code == 200


@pytest.mark.parametrize("drop_the_id", [False, True])
def test_a_form_posted_to_another_users_key_is_never_taken_as_theirs(
    server: RunningServer, tmp_path: Path, drop_the_id: bool
) -> None:
    """Issue 14 item 7: Alice posts her presigned form with Bob's pending key (moto, like some S3 servers,
    does not enforce the policy's key); Bob's complete must not take her bytes, with or without her form's
    x-amz-meta-upload-id."""
    alice, bob = server.add_user(), server.add_user()
    hers, his = tmp_path / "hers.mp4", tmp_path / "his.mp4"
    random_file(hers, 1000)
    random_file(his, 1000)
    form, target = presign(alice, hers), presign(bob, his)
    fields = {**form["upload_fields"], "key": target["s3_key"]}
    if drop_the_id:
        fields = {k: v for k, v in fields.items() if k.lower() != "x-amz-meta-upload-id"}
    with open(hers, "rb") as f:
        posted = requests.post(form["upload_url"], data=fields, files={"file": f}, timeout=30)
    assert posted.status_code == 204  # the store took it: the check must be ReelDrop's own
    answer = bob.call("POST", f"/api/upload/{target['upload_id']}/complete", json={})
    assert answer.status_code != 200 and answer.json()["code"] == "object_mismatch", answer.text
    assert not object_exists(server, target["s3_key"])  # her bytes are gone, not kept under his name


def test_a_download_link_is_only_given_for_an_object_still_stored(
    user: User, server: RunningServer, tmp_path: Path
) -> None:
    """Issue 15 item 7: /download handed out a URL that 404s once the object was gone; now 410, as results."""
    path = tmp_path / "gone.mp4"
    random_file(path, 64 * 1024)
    data = presign(user, path)
    with open(path, "rb") as f:
        assert requests.post(data["upload_url"], data=data["upload_fields"], files={"file": f}, timeout=60).ok
    assert user.call("POST", f"/api/upload/{data['upload_id']}/complete", json={}).status_code == 200
    server.services.store.delete(data["s3_key"])  # lost behind the server's back (a lifecycle rule, a sweep)
    answer = user.call("GET", f"/api/upload/{data['upload_id']}/download")
    assert answer.status_code == 410 and answer.json()["code"] == "object_missing", answer.text
    assert "gone.mp4" in answer.json()["detail"]
