"""Streaming uploads (compress-while-upload) through the real server and moto: the size given at presign
is an upper bound, the upload is multipart whatever its size, and complete takes the real size and the
parts 1..N that hold it. Every bad form of complete is refused with a code and loses nothing."""

from __future__ import annotations

import hashlib

import requests

from tests.support.servers import RunningServer, User

MIB = 1024 * 1024


def start(user: User, upper_bound: int, name: str = "encoding.mp4") -> dict:
    body = {
        "filename": name,
        "file_size": upper_bound,
        "content_type": "video/mp4",
        "part_size": 5 * MIB,
        "streaming": True,
    }
    answer = user.call("POST", "/api/upload/presigned-url", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def put_parts(user: User, data: dict, blobs: list[bytes]) -> list[dict]:
    request = {"parts": [{"part_number": n + 1} for n in range(len(blobs))]}
    signed = user.call("POST", f"/api/upload/{data['upload_id']}/parts", json=request)
    assert signed.status_code == 200, signed.text
    parts = []
    for item in signed.json()["parts"]:
        body = blobs[item["part_number"] - 1]
        answer = requests.put(item["url"], data=body, headers=item["headers"], timeout=60)
        assert answer.status_code == 200, answer.text
        parts.append({"part_number": item["part_number"], "etag": answer.headers["ETag"]})
    return parts


def complete(user: User, data: dict, **body) -> requests.Response:
    return user.call("POST", f"/api/upload/{data['upload_id']}/complete", json=body)


def test_a_streaming_upload_completes_with_fewer_parts_and_its_real_size(user: User, server: RunningServer) -> None:
    data = start(user, 40 * MIB)
    assert data["method"] == "MULTIPART" and data["streaming"] is True
    assert data["part_size"] == 5 * MIB and data["part_count"] == 8
    blobs = [bytes([n]) * (5 * MIB) for n in range(2)] + [b"tail" * 1000]
    parts = put_parts(user, data, blobs)
    size = sum(len(blob) for blob in blobs)
    done = complete(user, data, parts=parts, size=size)
    assert done.status_code == 200, done.text
    assert done.json()["size"] == size and done.json()["status"] == "uploaded"
    record = user.call("GET", f"/api/upload/{data['upload_id']}").json()
    assert record["part_count"] == 3 and record["size"] == size and record["declared_size"] == 40 * MIB
    stored = server.services.store.open_stream(data["s3_key"])
    assert hashlib.sha256(stored["Body"].read()).digest() == hashlib.sha256(b"".join(blobs)).digest()


def test_a_small_streaming_upload_is_still_multipart(user: User) -> None:
    data = start(user, 2 * MIB)  # under the POST limit, but a file being written cannot go in one POST
    assert data["method"] == "MULTIPART" and data["part_count"] == 1


def test_complete_of_a_streaming_upload_needs_its_real_size(user: User) -> None:
    data = start(user, 20 * MIB)
    parts = put_parts(user, data, [b"x" * 1000])
    missing = complete(user, data, parts=parts)
    assert missing.status_code == 400 and missing.json()["code"] == "size_required"
    too_big = complete(user, data, parts=parts, size=20 * MIB + 1)
    assert too_big.status_code == 400 and too_big.json()["code"] == "invalid_size"
    zero = complete(user, data, parts=parts, size=0)
    assert zero.status_code == 400 and zero.json()["code"] == "invalid_size"
    # nothing was lost to the refusals: the upload is still pending, and completes
    assert user.call("GET", f"/api/upload/{data['upload_id']}").json()["status"] == "pending"
    assert complete(user, data, parts=parts, size=1000).status_code == 200


def test_a_size_that_is_not_what_s3_holds_fails_the_upload(user: User, server: RunningServer) -> None:
    data = start(user, 20 * MIB)
    parts = put_parts(user, data, [b"y" * 5 * MIB, b"z" * 10])
    wrong = complete(user, data, parts=parts, size=5 * MIB)  # a client that forgot its last part's bytes
    assert wrong.status_code == 400 and wrong.json()["code"] == "size_mismatch"
    assert user.call("GET", f"/api/upload/{data['upload_id']}").json()["status"] == "failed"
    assert server.services.store.head(data["s3_key"]) is None


def test_parts_must_run_from_one_without_gaps_and_within_the_bound(user: User) -> None:
    data = start(user, 10 * MIB)  # two parts at most
    parts = put_parts(user, data, [b"a" * 5 * MIB, b"b" * 10])
    gap = complete(user, data, parts=[parts[1]], size=10)
    assert gap.status_code == 400 and gap.json()["code"] == "invalid_parts"
    beyond = user.call("POST", f"/api/upload/{data['upload_id']}/parts", json={"parts": [{"part_number": 3}]})
    assert beyond.status_code == 400 and beyond.json()["code"] == "invalid_part_number"


def test_an_ordinary_upload_refuses_a_size_that_differs_from_the_declared_one(user: User) -> None:
    body = {"filename": "plain.mp4", "file_size": 20 * MIB, "content_type": "video/mp4", "part_size": 5 * MIB}
    data = user.call("POST", "/api/upload/presigned-url", json=body).json()
    parts = put_parts(user, data, [b"c" * 5 * MIB])
    answer = complete(user, data, parts=parts, size=5 * MIB)
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_size"
