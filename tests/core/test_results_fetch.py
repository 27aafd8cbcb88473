"""Issue 16 item 2: one place fetches a job's results (the pipeline, the Jobs tab and `reeldrop download`).

Its rules, over real HTTP (moto's S3 server behind presigned GETs): the folder is named after the file and
nothing else; a second fetch of the same results finds them where they are instead of unpacking a copy
beside them; other results never overwrite earlier ones; the cached ZIP is gone once they are unpacked.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from app.core.results.fetch import ResultsFetch, fetch_results, results_stem
from tests.support.servers import TEST_ACCESS_KEY, TEST_SECRET_KEY


def results_zip(seed: int) -> bytes:
    """A results ZIP as the server makes it: files and a manifest naming each one with its size."""
    files = {"renditions/720p.mp4": secrets.token_bytes(64 * 1024 + seed), "report.json": b'{"seed": %d}' % seed}
    manifest = {"job_id": f"job-{seed}", "entries": [{"name": n, "size": len(b)} for n, b in files.items()]}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("manifest.json", json.dumps(manifest))
    return buffer.getvalue()


class Backend:
    """What GET /api/jobs/{id}/results/url answers, for one ZIP per job id, over moto's S3 server."""

    def __init__(self, endpoint: str) -> None:
        self.s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=TEST_ACCESS_KEY,
            aws_secret_access_key=TEST_SECRET_KEY,
            region_name="us-east-1",
        )
        self.bucket = f"fetch-{secrets.token_hex(4)}"
        self.s3.create_bucket(Bucket=self.bucket)
        self.asked: list[str] = []

    def publish(self, job_id: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=f"results/{job_id}.zip", Body=data)

    def results_url(self, job_id: str) -> dict[str, Any]:
        self.asked.append(job_id)
        data = self.s3.get_object(Bucket=self.bucket, Key=f"results/{job_id}.zip")["Body"].read()
        params = {"Bucket": self.bucket, "Key": f"results/{job_id}.zip"}
        url = self.s3.generate_presigned_url("get_object", Params=params, ExpiresIn=600)
        return {"url": url, "expires_in": 600, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@pytest.fixture
def backend(s3_endpoint: str) -> Backend:
    return Backend(s3_endpoint)


JOB_A, JOB_B = "7a2f5c90-0000-4000-8000-00000000000a", "7a2f5c90-0000-4000-8000-00000000000b"


def test_the_folder_is_named_after_the_file_whoever_chose_the_name() -> None:
    assert results_stem("holiday.mp4") == "holiday"
    assert results_stem("beach day.MOV") == "beach day"
    assert results_stem("v1.2 final") == "v1.2 final"  # a title, not a file name: nothing is cut
    assert results_stem('a:b*?"<>|c.mkv') == "a_b_c"
    for hostile in ("../../.hidden", "/etc/passwd", "..\\..\\x", "\x00\n.mp4"):
        stem = results_stem(hostile)
        assert "/" not in stem and "\\" not in stem and not stem.startswith(".") and stem
    assert results_stem("..") == results_stem("") == results_stem(" . ") == "results"
    assert len(results_stem("x" * 500 + ".mp4")) <= 80


def test_a_second_fetch_of_the_same_results_finds_them_in_place(backend: Backend, tmp_path: Path) -> None:
    backend.publish(JOB_A, results_zip(1))
    out, cache = tmp_path / "out", tmp_path / "cache"
    first = fetch_results(backend, JOB_A, "holiday.mp4", out, cache)
    assert first == out / "holiday" and (first / "renditions" / "720p.mp4").stat().st_size == 64 * 1024 + 1
    again = fetch_results(backend, JOB_A, "holiday.mp4", out, cache)
    assert again == first and sorted(p.name for p in out.iterdir()) == ["holiday"]  # no "holiday (2)" copy
    assert list((cache / "results").iterdir()) == []  # the ZIP goes once its results are unpacked


def test_other_results_never_overwrite_earlier_ones(backend: Backend, tmp_path: Path) -> None:
    backend.publish(JOB_A, results_zip(1))
    backend.publish(JOB_B, results_zip(2))
    out, cache = tmp_path / "out", tmp_path / "cache"
    (out / "holiday").mkdir(parents=True)
    (out / "holiday" / "notes.txt").write_text("the creator's own file")
    first = ResultsFetch(lambda: backend.results_url(JOB_A), cache / "a.zip", out, "holiday.mp4").run()
    second = ResultsFetch(lambda: backend.results_url(JOB_B), cache / "b.zip", out, "holiday.mp4").run()
    assert (first, second) == (out / "holiday (2)", out / "holiday (3)")
    assert (out / "holiday" / "notes.txt").read_text() == "the creator's own file"
    assert json.loads((second / "report.json").read_text()) == {"seed": 2}


def test_a_hostile_title_cannot_place_results_outside_the_folder(backend: Backend, tmp_path: Path) -> None:
    backend.publish(JOB_A, results_zip(3))
    out = tmp_path / "deep" / "out"
    folder = fetch_results(backend, JOB_A, "../../escaped", out, tmp_path / "cache")
    assert folder.parent == out and not (tmp_path / "escaped").exists()
