"""Issue 14 item 14: every answer is what /openapi.json documents for it. Each JSON route declares the shape
of its success answer (the document listed none: `{"type": "object"}` for all of them), the file routes
declare their media type, and a walk through every route of a real server (uploads both ways, a job
processed to its results, jobs started every way and cancelled, the admin views, a worker's signed calls)
checks each answer, success or refusal, against the document."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from app.server.signing import sign_headers
from tests.server.test_seed_clients import wait_for_job
from tests.support.files import make_clip
from tests.support.openapi_contract import Contract
from tests.support.servers import RunningServer, User, reeldrop_server

SECRET = "test-worker-secret"  # what tests.support.servers gives every test server


def test_every_route_documents_its_success_answer(server: RunningServer) -> None:
    contract = Contract.of(server.url)
    vague = []
    for method, template in sorted(contract.operations()):
        responses = contract.doc["paths"][template][method.lower()]["responses"]
        success = {status: answer for status, answer in responses.items() if status.startswith("2")}
        assert success, f"{method} {template}: no success answer documented"
        for answer in success.values():
            for media_type, body in answer.get("content", {}).items():
                schema = body.get("schema", {})
                if media_type == "application/json":
                    named = schema.get("$ref") or schema.get("items", {}).get("$ref")
                    if not named:
                        vague.append(f"{method} {template}: {schema}")
                elif schema != {"type": "string", "format": "binary"}:
                    vague.append(f"{method} {template}: {media_type} {schema}")
    assert not vague, "answers with no declared shape:\n" + "\n".join(vague)
    job = contract.doc["components"]["schemas"]["JobDocument"]
    assert {"job_id", "status", "progress", "items", "options"} <= set(job["required"])


class Walker:
    """A user of the API whose every call is checked against the document."""

    def __init__(self, contract: Contract, user: User) -> None:
        self.contract, self.user = contract, user

    def call(self, method: str, template: str, expect: int = 200, **kw: object) -> requests.Response:
        path_values = {k: kw.pop(k) for k in list(kw) if f"{{{k}}}" in template}
        answer = self.user.call(method, template.format(**path_values), **kw)  # type: ignore[arg-type]
        assert answer.status_code == expect, f"{method} {template}: {answer.status_code} {answer.text[:300]}"
        return self.contract.check(method, template, answer)

    def json(self, method: str, template: str, expect: int = 200, **kw: object) -> dict:
        return self.call(method, template, expect, **kw).json()


def _post_upload(walker: Walker, path: Path, template: str = "/api/upload/presigned-url") -> dict:
    body = {"filename": path.name, "file_size": path.stat().st_size, "content_type": "video/mp4"}
    plan = walker.json("POST", template, json=body)
    with open(path, "rb") as f:
        posted = requests.post(plan["upload_url"], data=plan["upload_fields"], files={"file": f}, timeout=30)
    assert posted.status_code == 204, posted.text
    walker.call("POST", "/api/upload/{upload_id}/complete", json={}, upload_id=plan["upload_id"])
    return plan


def _multipart_upload(walker: Walker, tmp_path: Path) -> dict:
    path = tmp_path / "long-take.mp4"
    path.write_bytes(os.urandom(6 * 1024 * 1024 + 1))
    size = path.stat().st_size
    body = {"filename": path.name, "file_size": size, "content_type": "video/mp4", "resumable": True}
    plan = walker.json("POST", "/api/upload/presigned-url", json=body)
    assert plan["method"] == "MULTIPART", plan
    numbers = range(1, plan["part_count"] + 1)
    signed = walker.json(
        "POST",
        "/api/upload/{upload_id}/parts",
        json={"parts": [{"part_number": n} for n in numbers]},
        upload_id=plan["upload_id"],
    )
    data = path.read_bytes()
    etags = []
    for part in signed["parts"]:
        start = (part["part_number"] - 1) * plan["part_size"]
        put = requests.put(
            part["url"], data=data[start : start + plan["part_size"]], headers=part["headers"], timeout=30
        )
        assert put.status_code == 200, put.text
        etags.append({"part_number": part["part_number"], "etag": put.headers["ETag"]})
    listed = walker.call("GET", "/api/upload/{upload_id}/parts", upload_id=plan["upload_id"]).json()
    assert [p["part_number"] for p in listed] == list(numbers)
    walker.call("POST", "/api/upload/{upload_id}/complete", json={"parts": etags}, upload_id=plan["upload_id"])
    return plan


def _cancel(walker: Walker, started: dict) -> None:
    answer = walker.call("POST", "/api/jobs/{job_id}/cancel", expect=200, job_id=started["job_id"])
    assert answer.json()["job_id"] == started["job_id"]


def test_every_answer_of_a_walk_through_the_api_is_as_documented(
    server: RunningServer, tmp_path: Path, admin: User
) -> None:
    contract = Contract.of(server.url)
    anonymous = requests.Session()
    for template in ("/healthz", "/readyz"):
        contract.check("GET", template, anonymous.get(server.url + template, timeout=30))
    signed_in = anonymous.post(
        f"{server.url}/api/auth/token", json={"username": admin.username, "password": admin.password}, timeout=30
    )
    contract.check("POST", "/api/auth/token", signed_in)
    walker = Walker(contract, server.add_user())
    walker.call("GET", "/api/me")

    clip = make_clip(tmp_path / "holiday.mp4", seconds=1, size="160x120")
    main = _post_upload(walker, clip)
    job = walker.json("POST", "/api/jobs", json={"upload_id": main["upload_id"], "options": {"renditions": ["240p"]}})
    # While that job is processed, start a job every other way and cancel it at once.
    for template in ("/api/upload/presigned-url/", "/process/video/upload/s3/presigned-url"):
        walker.call("DELETE", "/api/upload/{upload_id}", upload_id=_post_upload(walker, clip, template)["upload_id"])
    for template in ("/api/upload/create-job", "/api/upload/create-job/"):
        _cancel(walker, walker.json("POST", template, json={"upload_id": _post_upload(walker, clip)["upload_id"]}))
    for template in ("/api/upload/file", "/api/upload/video"):
        with open(clip, "rb") as f:
            walker.call("POST", template, files={"file": ("clip.mp4", f, "video/mp4")})
    with open(clip, "rb") as f:
        _cancel(walker, walker.json("POST", "/api/jobs/", files={"media_file": ("form.mp4", f, "video/mp4")}))
    _cancel(walker, walker.json("POST", "/process/video/s3", json={"s3_key": _post_upload(walker, clip)["s3_key"]}))
    batch = [_post_upload(walker, clip)["upload_id"] for _ in range(2)]
    _cancel(walker, walker.json("POST", "/channel/download/selected", json={"upload_ids": batch}))

    big = _multipart_upload(walker, tmp_path)
    walker.call("GET", "/api/upload/{upload_id}", upload_id=big["upload_id"])
    walker.call("GET", "/api/upload/{upload_id}/download", upload_id=big["upload_id"])
    walker.call("GET", "/api/upload/{upload_id}/content", upload_id=main["upload_id"])
    walker.call("POST", "/api/upload/{upload_id}/move-to-permanent", upload_id=big["upload_id"])
    with open(tmp_path / "notes.srt", "w") as f:
        f.write("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    with open(tmp_path / "notes.srt", "rb") as f:
        walker.call("POST", "/api/upload/transcript-file", files={"file": ("notes.srt", f, "text/plain")})
    walker.call("POST", "/api/upload/transcript-text", json={"content": "hello", "filename": "notes.txt"})
    walker.call("GET", "/api/upload/stats/overview")

    done = wait_for_job(walker.user, f"/api/jobs/{job['job_id']}")
    assert done["status"] == "completed", done
    for template in ("/api/jobs/{job_id}", "/jobs/{job_id}"):
        walker.call("GET", template, job_id=job["job_id"])
    walker.call("GET", "/api/jobs", params={"limit": 5})
    walker.call("POST", "/api/jobs/{job_id}/cancel", expect=409, job_id=job["job_id"])
    for template in ("/api/jobs/{job_id}/results.zip", "/channel/download/results/{job_id}"):
        walker.call("GET", template, job_id=job["job_id"])
    walker.call(
        "GET", "/api/jobs/{job_id}/results.zip", expect=206, job_id=job["job_id"], headers={"Range": "bytes=0-9"}
    )
    walker.call("GET", "/api/jobs/{job_id}/results/url", job_id=job["job_id"])
    output = next(i["item_id"] for i in done["items"] if i["s3_key"] and i["kind"] == "rendition")
    ids = {"job_id": job["job_id"], "item_id": output}
    walker.call("GET", "/api/jobs/{job_id}/items/{item_id}/url", **ids)
    walker.call("HEAD", "/api/jobs/{job_id}/items/{item_id}", **ids)
    walker.call("DELETE", "/api/jobs/{job_id}/items/{item_id}", **ids)
    walker.call("HEAD", "/api/jobs/{job_id}/items/{item_id}", expect=410, **ids)
    walker.call("POST", "/api/storage/free", json={"keep_job_ids": []})

    operator = Walker(contract, admin)
    for method, template in (
        ("POST", "/api/upload/cleanup-temp"),
        ("GET", "/debug/jobs"),
        ("GET", "/debug/memory"),
        ("POST", "/debug/gc"),
    ):
        operator.call(method, template)
    operator.call("DELETE", "/api/auth/token")

    internal = {op for op in contract.operations() if op[1].startswith("/internal/")}
    untried = contract.operations() - contract.succeeded() - internal
    assert not untried, f"routes the walk did not answer with success: {sorted(untried)}"


@pytest.fixture(scope="module")
def external(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with reeldrop_server(s3_endpoint, tmp_path_factory.mktemp("external"), external_workers=True) as running:
        yield running


def test_a_workers_signed_calls_are_answered_as_documented(external: RunningServer, tmp_path: Path) -> None:
    contract = Contract.of(external.url)
    walker = Walker(contract, external.add_user())
    upload = _post_upload(walker, make_clip(tmp_path / "talk.mp4", seconds=1, size="160x120"))
    job_id = walker.json("POST", "/api/jobs", json={"upload_id": upload["upload_id"]})["job_id"]

    def signed(method: str, event: str, payload: dict | None = None) -> requests.Response:
        body = json.dumps(payload).encode() if payload is not None else b""
        path = f"/internal/job/{job_id}{event}"
        headers = {"Content-Type": "application/json", **sign_headers(SECRET, body, method=method, target=path)}
        answer = requests.request(method, external.url + path, data=body, headers=headers, timeout=30)
        return contract.check(method, "/internal/job/{job_id}" + event, answer)

    order = signed("GET", "").json()
    assert order["job_id"] == job_id and order["items"], order
    first, *rest = [item["item_id"] for item in order["items"]]
    assert signed("POST", "/video-complete", {"job_id": job_id, "video_id": first}).status_code == 200
    failed = {"job_id": job_id, "video_id": rest[0], "error": "no voice", "error_type": "no_audio"}
    assert signed("POST", "/video-failed", failed).status_code == 200
    assert signed("POST", "/finished", {"job_id": job_id}).status_code == 200
    assert signed("POST", "/finished", {"job_id": "someone-elses"}).status_code >= 400
    unsigned = requests.get(f"{external.url}/internal/job/{job_id}", timeout=30)
    contract.check("GET", "/internal/job/{job_id}", unsigned)
    assert unsigned.status_code == 401
    internal = {op for op in contract.operations() if op[1].startswith("/internal/")}
    assert internal <= contract.succeeded()


def test_the_checker_itself_finds_an_answer_unlike_its_schema(server: RunningServer) -> None:
    """The walk's checks are only as good as the checker: a job document without its status, a progress in
    words, an unknown media type and an undocumented status are each reported."""
    contract = Contract.of(server.url)

    def answer(status: int, body: bytes, media_type: str) -> requests.Response:
        made = requests.Response()
        made.status_code, made._content = status, body
        made.headers["Content-Type"] = media_type
        return made

    job = {"job_id": "j", "progress": "half", "upload_id": None, "s3_key": "k", "options": {}, "items": []}
    job |= {"error": None, "created_at": "", "updated_at": "", "status_url": ""}
    problems = contract.violations(
        "GET", "/api/jobs/{job_id}", answer(200, json.dumps(job).encode(), "application/json")
    )
    assert any("'status' is a required property" in p for p in problems), problems
    assert any("progress" in p for p in problems), problems
    zip_as_text = answer(200, b"PK", "text/plain")
    assert contract.violations("GET", "/api/jobs/{job_id}/results.zip", zip_as_text)
    with pytest.raises(AssertionError, match="not documented"):
        contract.violations("GET", "/api/jobs/{job_id}/results/url", answer(302, b"", "text/plain"))
