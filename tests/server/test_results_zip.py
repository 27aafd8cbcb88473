"""The results ZIP builder against moto's S3 server over HTTP: placeholders, manifest, bounded prefetch."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
import zipfile
from pathlib import Path

import pytest

from app.server.db import Job, JobItem, Upload, User
from app.server.results_zip import build_results_zip
from app.server.storage import ObjectStore, S3Store
from app.server.worker.finalize import outcome
from app.server.worker.s3_streams import FetchSpec, HashingReader, Prefetcher, SourceReadError
from tests.server.test_processing import s3_client, unpack_and_verify_manifest
from tests.support.faultproxy import FaultProxy
from tests.support.servers import TEST_ACCESS_KEY, TEST_SECRET_KEY, RunningServer

MIB = 1024 * 1024
OPTIONS = {"renditions": ["480p", "720p"], "audio": True, "clips": {"count": 1}, "thumbnails": 0}


def _store(server: RunningServer) -> ObjectStore:
    return server.services.store


def _job_with_items(server: RunningServer, items: list[dict]) -> str:
    with server.services.db.session() as session:
        user = session.query(User).first()
        assert user is not None
        upload = Upload(
            user_id=user.id, filename="f.mp4", content_type="video/mp4", declared_size=1, s3_key="temp/x/f.mp4"
        )
        upload.method = "POST"
        session.add(upload)
        session.flush()
        job = Job(user_id=user.id, upload_id=upload.id, s3_key="temp/x/film.mp4", status="processing", options=OPTIONS)
        for position, fields in enumerate(items):
            job.items.append(JobItem(position=position, **fields))
        session.add(job)
        session.flush()
        return job.id


def test_missing_and_failed_outputs_get_placeholders_and_an_errors_report(
    server: RunningServer, user: object, tmp_path: Path
) -> None:
    store = _store(server)
    present = os.urandom(3 * MIB + 17)
    store.put_bytes("videos/j/film_480p.mp4", present, "video/mp4")
    store.put_bytes("processed/j/metadata.json", b'{"ok": true}', "application/json")
    job_id = _job_with_items(
        server,
        [
            {"item_id": "validate", "kind": "validate", "status": "completed"},
            {
                "item_id": "rendition_480p",
                "kind": "rendition",
                "status": "completed",
                "s3_key": "videos/j/film_480p.mp4",
            },
            {"item_id": "audio", "kind": "audio", "status": "completed", "s3_key": "processed/j/gone.m4a"},
            {"item_id": "clip_01", "kind": "clip", "status": "failed", "error": "boom", "error_type": "ffmpeg_failed"},
            {"item_id": "rendition_720p", "kind": "rendition", "status": "skipped", "error": "would upscale"},
            {"item_id": "metadata", "kind": "metadata", "status": "completed", "s3_key": "processed/j/metadata.json"},
        ],
    )
    result = build_results_zip(server.services, job_id, "partial")
    assert result.key == f"results/{job_id}.zip"

    zip_path = tmp_path / "r.zip"
    s3_client(server.s3_endpoint).download_file(server.services.config.bucket, result.key, str(zip_path))
    assert zip_path.stat().st_size == result.size
    assert hashlib.sha256(zip_path.read_bytes()).hexdigest() == result.sha256
    manifest = unpack_and_verify_manifest(zip_path, tmp_path / "out")
    assert [e["name"] for e in manifest["entries"]] == [
        "renditions/film_480p.mp4",
        "audio/gone.m4a.error.txt",
        "clips/film_clip_01.mp4.error.txt",  # named after the planned output
        "metadata.json",
        "errors.json",
    ]
    assert (tmp_path / "out" / "renditions" / "film_480p.mp4").read_bytes() == present
    assert manifest["skipped"] == [{"item_id": "rendition_720p", "kind": "rendition", "reason": "would upscale"}]
    errors = json.loads((tmp_path / "out" / "errors.json").read_text())["errors"]
    assert [(e["item_id"], e["error_type"]) for e in errors] == [
        ("audio", "missing_output"),
        ("clip_01", "ffmpeg_failed"),
    ]
    with zipfile.ZipFile(zip_path) as archive:
        media = archive.getinfo("renditions/film_480p.mp4")
        assert media.compress_type == zipfile.ZIP_STORED  # video is already compressed
        assert archive.getinfo("manifest.json").compress_type == zipfile.ZIP_DEFLATED


def test_when_parallel_reads_are_dropped_the_zip_is_built_reading_one_at_a_time(
    server: RunningServer, user: object, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Seed 000: "S3 connection issues: falls back to sequential downloads". The path to the store drops
    any GET that overlaps another one; the first try (parallel) fails, the second reads one at a time."""
    blobs = {f"videos/par/film_{q}.mp4": os.urandom(2 * MIB + n) for n, q in enumerate(("480p", "720p", "1080p"))}
    for key, blob in blobs.items():
        _store(server).put_bytes(key, blob, "video/mp4")
    items = [
        {"item_id": f"rendition_{quality}", "kind": "rendition", "status": "completed", "s3_key": key}
        for key in blobs
        for quality in [key.rsplit("_", 1)[1].removesuffix(".mp4")]
    ]
    job_id = _job_with_items(server, items)
    config = server.services.config
    host, port = server.s3_endpoint.removeprefix("http://").split(":")
    with FaultProxy((host, int(port))) as proxy:
        proxy.set_bandwidth(16 * MIB)  # each 2 MiB read takes ~0.13 s, so parallel reads do overlap
        proxy.cut_concurrent_responses(256 * 1024, times=100, match=b"GET /" + config.bucket.encode() + b"/videos/par/")
        store = S3Store(
            config.bucket,
            endpoint_url=proxy.url,
            region="us-east-1",
            access_key_id=TEST_ACCESS_KEY,
            secret_access_key=TEST_SECRET_KEY,
        )
        proxied = dataclasses.replace(server.services, store=store)
        with caplog.at_level(logging.WARNING, logger="app.server.results_zip"):
            result = build_results_zip(proxied, job_id, "completed")
        assert proxy.fired.get("cut response", 0) >= 1  # the parallel try was really cut
    assert "reading one at a time" in caplog.text
    zip_path = tmp_path / "r.zip"
    s3_client(server.s3_endpoint).download_file(config.bucket, result.key, str(zip_path))
    manifest = unpack_and_verify_manifest(zip_path, tmp_path / "out")
    assert sorted(e["name"] for e in manifest["entries"]) == sorted(
        f"renditions/{key.rsplit('/', 1)[1]}" for key in blobs
    )
    for key, blob in blobs.items():
        assert (tmp_path / "out" / "renditions" / key.rsplit("/", 1)[1]).read_bytes() == blob


def test_the_prefetcher_reads_ahead_concurrently_in_bounded_memory(server: RunningServer) -> None:
    store = _store(server)
    blobs = [os.urandom(6 * MIB + n) for n in range(4)]
    for n, blob in enumerate(blobs):
        store.put_bytes(f"processed/prefetch/{n}.bin", blob, "application/octet-stream")
    specs = [FetchSpec(f"processed/prefetch/{n}.bin", len(blob)) for n, blob in enumerate(blobs)]
    with Prefetcher(store, specs, window=3, depth=2, chunk=MIB) as prefetch:
        first = prefetch.stream(0)
        received = [next(first)]
        # While entry 0 is being read, entries 1 and 2 are already downloading (seed 000's concurrency).
        deadline = time.monotonic() + 30
        while not all(prefetch._queues[i].full() for i in (1, 2)) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(prefetch._queues[i].full() for i in (1, 2))
        assert 3 not in prefetch._queues  # but never more than the window
        received.extend(first)
        assert b"".join(received) == blobs[0]
        for n in (1, 2, 3):
            assert b"".join(prefetch.stream(n)) == blobs[n]
    # window x (queue depth + the block each fetcher holds while waiting) chunks, whatever the sizes
    assert prefetch.peak_buffered_bytes <= 3 * (2 + 1) * MIB


def test_a_truncated_source_fails_the_stream_instead_of_zipping_a_short_file(server: RunningServer) -> None:
    store = _store(server)
    store.put_bytes("processed/short/a.bin", b"x" * 1000, "application/octet-stream")
    spec = FetchSpec("processed/short/a.bin", 2000)
    with Prefetcher(store, [spec]) as prefetch, pytest.raises(SourceReadError, match="read 1000 of 2000 bytes"):
        b"".join(prefetch.stream(0))


def test_the_hashing_reader_counts_what_it_hands_out() -> None:
    chunks = [os.urandom(n) for n in (10, 0, 70000, 3)]
    reader = HashingReader(iter(chunks))
    data = b""
    while block := reader.read(4096):
        data += block
    assert data == b"".join(chunks) and reader.size == len(data)
    assert reader.sha256 == hashlib.sha256(data).hexdigest() and not reader.seekable()


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([("validate", "completed", None), ("rendition", "completed", None)], "completed"),
        ([("validate", "completed", None), ("rendition", "completed", None), ("clip", "failed", "x")], "partial"),
        ([("validate", "completed", None), ("rendition", "failed", "x"), ("audio", "skipped", None)], "failed"),
        ([("validate", "failed", "not media"), ("rendition", "skipped", None)], "failed"),
        (
            [("validate", "completed", None), ("rendition", "skipped", None), ("metadata", "completed", None)],
            "completed",
        ),
    ],
)
def test_the_job_outcome_follows_its_items(items: list[tuple[str, str, str | None]], expected: str) -> None:
    assert outcome(items)[0] == expected
