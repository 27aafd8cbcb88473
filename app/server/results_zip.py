"""The results ZIP of a job: its outputs streamed from S3 into a ZIP64-capable stream and back to S3.

Nothing is held whole in memory or written to disk: a ``Prefetcher`` reads the next objects
concurrently in bounded chunks, zipstream-ng writes the archive as an iterator, and boto3 uploads it as
a multipart upload from a ``HashingReader`` that counts its size and SHA-256 on the way. Outputs that
failed or went missing get a ``.error.txt`` placeholder; ``errors.json`` lists them, and
``manifest.json`` (always the last entry) gives every other entry's name, size and SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.orm import Session
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential
from zipstream import ZIP_DEFLATED, ZIP_STORED, ZipStream

from .db import Job
from .services import Services
from .worker.batch import children_of, is_batch
from .worker.plan import UPLOAD_KIND, output_stem, plan_items, zip_name
from .worker.s3_streams import FetchSpec, HashingReader, Prefetcher, SourceReadError

log = logging.getLogger(__name__)

PARALLEL_READS = 4  # objects read at once on the first try; later tries read one at a time
BUILD_ATTEMPTS = 3

_TEXT_SUFFIXES = (".json", ".txt")


@dataclass(frozen=True)
class ZipResult:
    key: str
    size: int
    sha256: str
    entries: int


@dataclass
class _Entry:
    name: str
    item_id: str | None
    kind: str
    key: str | None = None
    size: int = 0
    text: bytes | None = None


@dataclass
class _Snapshot:
    job_id: str
    created_at: str
    source_name: str
    items: list[dict[str, Any]]
    planned_keys: dict[str, str | None]
    errors: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


def results_key(svc: Services, job_id: str) -> str:
    return f"{svc.config.results_prefix}{job_id}.zip"


def _item_dicts(job: Job) -> list[dict[str, Any]]:
    items = [
        {
            "item_id": i.item_id,
            "kind": i.kind,
            "status": i.status,
            "s3_key": i.s3_key,
            "error": i.error,
            "error_type": i.error_type,
        }
        for i in job.items
    ]
    transcript = job.options.get("transcript")
    if isinstance(transcript, dict) and transcript.get("s3_key"):
        # Not a step (nothing makes it): the upload given with the video, read from where it is stored.
        items.append(
            {
                "item_id": "transcript",
                "kind": "transcript",
                "status": "completed",
                "s3_key": transcript["s3_key"],
                "error": None,
                "error_type": None,
            }
        )
    return items


def _batch_items(svc: Services, session: Session, batch: Job) -> tuple[list[dict[str, Any]], dict[str, str | None]]:
    """A batch's ZIP: each child's items in a folder named after its upload ("holiday/renditions/…"), their
    ids prefixed the same way so that errors.json and the manifest say which upload an entry belongs to."""
    children = children_of(session, batch)
    items: list[dict[str, Any]] = []
    planned: dict[str, str | None] = {}
    folders: set[str] = set()
    for batch_item in batch.items:
        child = children.get((batch_item.item_metadata or {}).get("job_id", ""))
        stem = output_stem(child.s3_key if child else (batch_item.item_metadata or {}).get("filename", "upload"))
        folder, n = stem, 1
        while folder in folders:  # two uploads of one name: holiday, holiday_2
            n += 1
            folder = f"{stem}_{n}"
        folders.add(folder)
        if child is None:
            missing = {"item_id": f"{folder}/job", "kind": UPLOAD_KIND, "status": "failed", "s3_key": None}
            items.append({**missing, "error": batch_item.error, "error_type": batch_item.error_type, "folder": folder})
            continue
        for item in _item_dicts(child):
            items.append({**item, "item_id": f"{folder}/{item['item_id']}", "folder": folder})
        for plan in plan_items(svc.config, child.id, child.s3_key, child.options):
            planned[f"{folder}/{plan.item_id}"] = plan.target_key
    return items, planned


def _snapshot(svc: Services, job_id: str) -> _Snapshot:
    with svc.db.session() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise LookupError(f"job {job_id} not found")
        if is_batch(job.options):
            items, planned = _batch_items(svc, session, job)
            source = str(job.options.get("title") or f"{len(job.items)} uploads")
        else:
            items = _item_dicts(job)
            planned = {p.item_id: p.target_key for p in plan_items(svc.config, job.id, job.s3_key, job.options)}
            source = PurePosixPath(job.s3_key).name
        return _Snapshot(job.id, job.created_at.isoformat() + "Z", source, items, planned)


def _sizes(svc: Services, keys: list[str]) -> dict[str, int | None]:
    def size_of(key: str) -> int | None:
        head = svc.store.head(key)
        return head.size if head is not None else None

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="reeldrop-zip-head") as pool:
        return dict(zip(keys, pool.map(size_of, keys), strict=True))


def _entries(svc: Services, snap: _Snapshot) -> list[_Entry]:
    wanted = [i["s3_key"] for i in snap.items if i["status"] == "completed" and i["s3_key"]]
    sizes = _sizes(svc, wanted)
    entries: list[_Entry] = []
    for item in snap.items:
        item_id, kind, status = item["item_id"], item["kind"], item["status"]
        if kind == "validate" and status == "completed":
            continue  # its facts are in metadata.json
        if status == "skipped":
            snap.skipped.append({"item_id": item_id, "kind": kind, "reason": item["error"]})
            continue
        if status == "completed" and not item["s3_key"]:
            continue  # a step that made no file
        folder = f"{item['folder']}/" if item.get("folder") else ""
        if status == "completed" and sizes.get(item["s3_key"]) is not None:
            name = folder + zip_name(kind, item["s3_key"], item_id)
            entries.append(_Entry(name, item_id, kind, key=item["s3_key"], size=sizes[item["s3_key"]] or 0))
            continue
        if status == "completed":
            error, error_type = "The output was not found in storage.", "missing_output"
        elif status == "failed":
            error, error_type = item["error"] or "failed", item["error_type"] or "failed"
        else:
            error, error_type = f"The step ended {status}.", "not_run"
        target = item["s3_key"] or snap.planned_keys.get(item_id) or item_id
        name = folder + zip_name(kind, target, item_id) + ".error.txt"
        text = f"{item_id} ({kind}) has no output: {error}\nerror_type: {error_type}\n".encode()
        entries.append(_Entry(name, item_id, kind, text=text))
        snap.errors.append({"item_id": item_id, "kind": kind, "name": name, "error": error, "error_type": error_type})
    return _unique_names(entries)


def _unique_names(entries: list[_Entry]) -> list[_Entry]:
    seen: set[str] = {"manifest.json", "errors.json"}
    for entry in entries:
        if entry.name in seen:
            path = PurePosixPath(entry.name)
            entry.name = str(path.with_name(f"{path.stem}.{entry.item_id}{path.suffix}"))
        seen.add(entry.name)
    return entries


def _compression(name: str) -> int:
    return ZIP_DEFLATED if name.endswith(_TEXT_SUFFIXES) else ZIP_STORED


def _zip_stream(snap: _Snapshot, status: str, entries: list[_Entry], prefetch: Prefetcher) -> ZipStream:
    recorded: list[dict[str, Any]] = []

    def tracked(entry: _Entry, chunks: Iterator[bytes]) -> Iterator[bytes]:
        digest, size = hashlib.sha256(), 0
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            yield chunk
        sha256 = digest.hexdigest()
        recorded.append(
            {"name": entry.name, "size": size, "sha256": sha256, "item_id": entry.item_id, "kind": entry.kind}
        )

    def manifest() -> Iterator[bytes]:
        # Generated only when zipstream reaches it (last), i.e. after every other entry went through.
        doc = {
            "job_id": snap.job_id,
            "status": status,
            "created_at": snap.created_at,
            "source": snap.source_name,
            "entries": recorded,
            "skipped": snap.skipped,
            "errors": len(snap.errors),
        }
        yield json.dumps(doc, indent=2).encode()

    stream = ZipStream(compress_type=ZIP_STORED)
    s3_index = 0
    for entry in entries:
        if entry.key is not None:
            chunks = prefetch.stream(s3_index)  # a generator: its download starts when zipstream reaches it
            s3_index += 1
        else:
            chunks = iter([entry.text or b""])
        stream.add(tracked(entry, chunks), entry.name, size=entry.size or None, compress_type=_compression(entry.name))
    if snap.errors:
        report = json.dumps({"job_id": snap.job_id, "errors": snap.errors}, indent=2).encode()
        errors_entry = _Entry("errors.json", None, "report")
        stream.add(tracked(errors_entry, iter([report])), "errors.json", compress_type=ZIP_DEFLATED)
    stream.add(manifest(), "manifest.json", compress_type=ZIP_DEFLATED)
    return stream


def build_results_zip(svc: Services, job_id: str, status: str) -> ZipResult:
    """Build results/{job_id}.zip from the job's items and store it; returns its size and SHA-256.

    The first try reads several outputs at once; when a read fails (a store or a path that drops parallel
    streams: the Lambda batch API's "S3 connection issues"), the next tries read them one at a time before the
    job fails.
    """
    retrying = Retrying(
        retry=retry_if_exception_type((SourceReadError, ClientError, BotoCoreError)),
        stop=stop_after_attempt(BUILD_ATTEMPTS),
        wait=wait_exponential(multiplier=1, max=8),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            number = attempt.retry_state.attempt_number
            if number == 2:
                log.warning("job %s: results ZIP: reading outputs in parallel failed; reading one at a time", job_id)
            return _build(svc, job_id, status, PARALLEL_READS if number == 1 else 1)
    raise AssertionError("unreachable: tenacity re-raises the last error")


def _build(svc: Services, job_id: str, status: str, window: int) -> ZipResult:
    snap = _snapshot(svc, job_id)
    entries = _entries(svc, snap)
    key = results_key(svc, job_id)
    specs = [FetchSpec(e.key, e.size) for e in entries if e.key is not None]
    with Prefetcher(svc.store, specs, window=window) as prefetch:
        reader = HashingReader(_zip_stream(snap, status, entries, prefetch))
        svc.store.put_stream(key, reader, "application/zip")
    head = svc.store.head(key)
    if head is None or head.size != reader.size:
        raise SourceReadError(f"{key}: stored {head.size if head else 'nothing'}, wrote {reader.size} bytes")
    log.info("job %s: results ZIP stored (%d entries, %d bytes)", job_id, len(entries) + 1, reader.size)
    return ZipResult(key, reader.size, reader.sha256, len(entries) + 1 + (1 if snap.errors else 0))
