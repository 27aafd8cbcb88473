"""A durable object store in a folder: "This computer", and a single-box server (`reeldrop-server --storage DIR`).

It keeps S3's model and contract, so the routes, the worker and the client cannot tell it from S3: objects
under keys with a content type and metadata, multipart uploads that outlive the process (a 4 GB upload
resumes at the part level after a restart), and presigned URLs — signed by this server with HMAC-SHA256
(url_signing.py) and answered by its /storage routes (routes/storage.py).

Layout under ``root``::

    objects/<key>                      the bytes; written to tmp/, fsynced, renamed into place
    meta/<key>.json                    content type, ETag, metadata (written before the object it describes)
    multipart/<upload id>/upload.json  key, content type, metadata of an unfinished multipart upload
    multipart/<upload id>/<n>.<etag>.part  one part; its ETag (MD5) is in its name, so a part is one rename
    tmp/                               files being written; anything old here is debris of a crash

Every write is a new file renamed over the old one after an fsync, and the folder is fsynced after the
rename: a kill -9 or a power cut leaves either the old object or the new one, never half of one. An object
without its meta file is not there (head answers None); meta without an object is removed by ``delete``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import ClientError

from .byte_ranges import Unsatisfiable, parse_byte_range
from .storage import BinaryStream, ObjectHead, StoredPart, multipart_etag
from .url_signing import UrlSigner

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024  # S3's: every part but the last
MAX_PARTS = 10_000
TMP_DEBRIS_AGE_S = 3600.0  # a temp file older than this belongs to no live write (one write never takes so long)
_UPLOAD_ID_BYTES = 24


def s3_error(code: str, message: str, operation: str, status: int = 400) -> ClientError:
    """The error botocore would raise for S3's answer: every caller already handles these."""
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


def check_key(key: str) -> list[str]:
    """A key's path segments; refuses anything that could leave the objects folder or is not a plain name."""
    segments = key.split("/")
    if (
        not key
        or len(key) > 1024
        or any(s in ("", ".", "..") for s in segments)
        or any(c in key for c in ("\\", "\x00"))
        or any(ord(c) < 32 for c in key)
    ):
        raise s3_error("InvalidKey", f"{key!r} is not a key this store accepts", "Key")
    return segments


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a folder (Windows)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class WrittenFile:
    """A file written to tmp/ and fsynced, not yet in place."""

    path: Path
    size: int
    md5_hex: str


class TempWriter:
    """Bytes arriving in blocks, written to one temp file while counted, MD5-hashed and (if asked) CRC32C'd."""

    def __init__(self, path: Path, limit: int | None = None, crc32c: bool = False) -> None:
        self.path = path
        self.limit = limit
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._crc: Any = None
        if crc32c:
            import google_crc32c

            self._crc = google_crc32c.Checksum()
        self._file: IO[bytes] | None = path.open("wb")

    def write(self, block: bytes) -> None:
        assert self._file is not None
        self.size += len(block)
        if self.limit is not None and self.size > self.limit:
            raise s3_error("EntityTooLarge", f"The body is larger than the {self.limit} bytes allowed.", "Put")
        self._md5.update(block)
        if self._crc is not None:
            self._crc.update(block)
        self._file.write(block)

    def crc32c_base64(self) -> str:
        import base64

        return base64.b64encode(self._crc.digest()).decode("ascii") if self._crc is not None else ""

    def md5_base64(self) -> str:
        import base64

        return base64.b64encode(self._md5.digest()).decode("ascii")

    def finish(self) -> WrittenFile:
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        return WrittenFile(self.path, self.size, self._md5.hexdigest())

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)


class FileBody:
    """An object being read, with botocore StreamingBody's read/iter_chunks/close."""

    def __init__(self, path: Path, start: int, length: int) -> None:
        self._file = path.open("rb")
        self._file.seek(start)
        self._left = length

    def read(self, amt: int | None = None) -> bytes:
        want = self._left if amt is None else min(amt, self._left)
        data = self._file.read(want) if want > 0 else b""
        self._left -= len(data)
        return data

    def iter_chunks(self, chunk_size: int = CHUNK) -> Iterator[bytes]:
        while data := self.read(chunk_size):
            yield data

    def close(self) -> None:
        self._file.close()


class FileStore:
    """The ObjectStore of a folder. ``base_url`` is where this server answers /storage (set once it listens)."""

    def __init__(self, root: Path, signer: UrlSigner, base_url: str = "", bucket: str = "reeldrop") -> None:
        self.root = root
        self.signer = signer
        self.base_url = base_url.rstrip("/")
        self.bucket = bucket
        self.objects = root / "objects"
        self.meta = root / "meta"
        self.multipart = root / "multipart"
        self.tmp = root / "tmp"

    # -- bucket ----------------------------------------------------------------------------------
    def ensure_bucket(self) -> None:
        for folder in (self.objects, self.meta, self.multipart, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)
        self.sweep_tmp(TMP_DEBRIS_AGE_S)
        log.info("object store: folder %s (durable; URLs signed by this server)", self.root)

    def ping(self) -> None:
        if not self.objects.is_dir():
            raise OSError(f"the storage folder {self.objects} is missing")

    def sweep_tmp(self, older_than_s: float) -> int:
        """Remove files a crashed write left in tmp/; returns how many."""
        removed = 0
        cutoff = time.time() - older_than_s
        for path in self.tmp.iterdir() if self.tmp.is_dir() else ():
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed

    def disk_usage(self) -> int:
        """Bytes of every file under the root (objects, unfinished parts, temp files)."""
        total = 0
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.stat(os.path.join(folder, name)).st_size
        return total

    # -- presigning ------------------------------------------------------------------------------
    def _url(self, path: str, query: dict[str, str]) -> str:
        from urllib.parse import quote, urlencode

        return f"{self.base_url}/storage/{quote(path)}?{urlencode(query)}"

    def presigned_post(
        self, key: str, content_type: str, max_size: int, expires_in: int, metadata: dict[str, str]
    ) -> dict[str, Any]:
        check_key(key)
        fields = {"key": key, "Content-Type": content_type}
        fields.update({f"x-amz-meta-{name}": value for name, value in metadata.items()})
        policy = self.signer.post_policy(fields, max_size, expires_in)
        return {"url": f"{self.base_url}/storage/", "fields": {**fields, **policy}}

    def presigned_part_url(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        expires_in: int,
        content_md5: str | None = None,
        checksum_crc32c: str | None = None,
        max_size: int | None = None,
        content_length: int | None = None,  # the route passes it as max_size too: no body longer than that
    ) -> str:
        check_key(key)
        query = self.signer.sign_request(
            "PUT",
            key,
            expires_in,
            upload_id=upload_id,
            part_number=str(part_number),
            content_md5=content_md5 or "",
            checksum_crc32c=checksum_crc32c or "",
            max_size=str(max_size or 5 * 1024**3),
        )
        return self._url(key, query)

    def presigned_get_url(self, key: str, expires_in: int, download_name: str | None = None) -> str:
        check_key(key)
        disposition = f'attachment; filename="{download_name}"' if download_name else ""
        return self._url(key, self.signer.sign_request("GET", key, expires_in, disposition=disposition))

    # -- paths -----------------------------------------------------------------------------------
    def object_path(self, key: str) -> Path:
        return self.objects.joinpath(*check_key(key))

    def _meta_path(self, key: str) -> Path:
        segments = check_key(key)
        return self.meta.joinpath(*segments[:-1], segments[-1] + ".json")

    def _upload_dir(self, upload_id: str) -> Path:
        if not upload_id or not all(c.isalnum() or c in "-_" for c in upload_id) or len(upload_id) > 64:
            raise s3_error("NoSuchUpload", "The specified upload does not exist.", "UploadPart", 404)
        return self.multipart / upload_id

    # -- writing ---------------------------------------------------------------------------------
    def new_temp(self) -> Path:
        self.tmp.mkdir(parents=True, exist_ok=True)
        return self.tmp / f"{secrets.token_hex(12)}.tmp"

    def write_temp(self, chunks: Iterator[bytes] | BinaryStream, limit: int | None = None) -> WrittenFile:
        """Write a stream to tmp/ (fsynced), counting and hashing it; EntityTooLarge beyond ``limit`` bytes."""
        writer = TempWriter(self.new_temp(), limit)
        source = iter(lambda: chunks.read(CHUNK), b"") if hasattr(chunks, "read") else chunks
        try:
            for block in source:
                writer.write(block)
            return writer.finish()
        except BaseException:
            writer.discard()
            raise

    def _write_json(self, path: Path, value: dict[str, Any]) -> None:
        temp = self.new_temp()
        with temp.open("w", encoding="utf-8") as out:
            json.dump(value, out)
            out.flush()
            os.fsync(out.fileno())
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, path)
        _fsync_dir(path.parent)

    def commit(
        self, key: str, written: WrittenFile, content_type: str, metadata: dict[str, str], etag: str | None = None
    ) -> str:
        """Put a written temp file in place as ``key``; returns its quoted ETag."""
        etag = etag or f'"{written.md5_hex}"'
        self._write_json(self._meta_path(key), {"content_type": content_type, "etag": etag, "metadata": metadata})
        target = self.object_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(written.path, target)
        _fsync_dir(target.parent)
        return etag

    def put_stream(self, key: str, stream: BinaryStream, content_type: str) -> None:
        check_key(key)
        self.commit(key, self.write_temp(stream), content_type, {})

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        check_key(key)
        self.commit(key, self.write_temp(iter([data])), content_type, {})

    # -- multipart -------------------------------------------------------------------------------
    def create_multipart(
        self, key: str, content_type: str, metadata: dict[str, str], checksum_algorithm: str | None = None
    ) -> str:
        check_key(key)
        upload_id = secrets.token_urlsafe(_UPLOAD_ID_BYTES)
        folder = self._upload_dir(upload_id)
        folder.mkdir(parents=True)
        self._write_json(
            folder / "upload.json",
            {
                "key": key,
                "content_type": content_type,
                "metadata": metadata,
                "checksum_algorithm": checksum_algorithm,
                "initiated": datetime.now(UTC).isoformat(),
            },
        )
        return upload_id

    def _upload_record(self, key: str, upload_id: str, operation: str) -> dict[str, Any]:
        folder = self._upload_dir(upload_id)
        try:
            record: dict[str, Any] = json.loads((folder / "upload.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise s3_error("NoSuchUpload", "The specified upload does not exist.", operation, 404) from exc
        if record.get("key") != key:
            raise s3_error("NoSuchUpload", "The specified upload does not exist for this key.", operation, 404)
        return record

    def store_part(self, key: str, upload_id: str, part_number: int, written: WrittenFile) -> str:
        """Put a written part in place (replacing an earlier one of the same number); returns its ETag."""
        self._upload_record(key, upload_id, "UploadPart")
        if not 1 <= part_number <= MAX_PARTS:
            raise s3_error("InvalidArgument", f"Part numbers run from 1 to {MAX_PARTS}.", "UploadPart")
        folder = self._upload_dir(upload_id)
        os.replace(written.path, folder / f"{part_number:05d}.{written.md5_hex}.part")
        for older in folder.glob(f"{part_number:05d}.*.part"):
            if older.name != f"{part_number:05d}.{written.md5_hex}.part":
                older.unlink(missing_ok=True)
        _fsync_dir(folder)
        return f'"{written.md5_hex}"'

    def _parts(self, upload_id: str) -> dict[int, tuple[Path, str]]:
        found: dict[int, tuple[Path, str]] = {}
        for path in self._upload_dir(upload_id).glob("*.part"):
            number, _, etag = path.name.removesuffix(".part").partition(".")
            if number.isdigit() and etag:
                previous = found.get(int(number))
                # Two of one number only for an instant (a resend being renamed in): the newer one wins.
                if previous is None or path.stat().st_mtime >= previous[0].stat().st_mtime:
                    found[int(number)] = (path, etag)
        return found

    def list_parts(self, key: str, upload_id: str, page_size: int = 1000) -> list[StoredPart]:
        self._upload_record(key, upload_id, "ListParts")
        parts = []
        for number, (path, etag) in sorted(self._parts(upload_id).items()):
            with contextlib.suppress(FileNotFoundError):  # replaced by a resend between listing and stat
                parts.append(StoredPart(number, f'"{etag}"', path.stat().st_size))
        return parts

    def complete_multipart(
        self, key: str, upload_id: str, parts: list[tuple[int, str]], crc32c: dict[int, str] | None = None
    ) -> None:
        # Completing again after a crash between the rename and the cleanup: the object is already this upload.
        head = self.head(key)
        if head is not None and head.metadata.get("x-reeldrop-multipart-upload") == upload_id:
            shutil.rmtree(self.multipart / upload_id, ignore_errors=True)
            return
        record = self._upload_record(key, upload_id, "CompleteMultipartUpload")
        stored = self._parts(upload_id)
        chosen: list[Path] = []
        digests: list[bytes] = []
        for index, (number, etag) in enumerate(parts):
            entry = stored.get(number)
            if entry is None or entry[1] != etag.strip().strip('"').lower():
                raise s3_error("InvalidPart", f"Part {number} was not uploaded with ETag {etag}.", "Complete")
            if index < len(parts) - 1 and entry[0].stat().st_size < MIN_PART_SIZE:
                raise s3_error("EntityTooSmall", f"Part {number} is smaller than 5 MiB.", "Complete")
            chosen.append(entry[0])
            digests.append(bytes.fromhex(entry[1]))
        if not chosen:
            raise s3_error("MalformedXML", "A multipart upload is completed with at least one part.", "Complete")
        written = self._concatenate(chosen)
        etag = f'"{multipart_etag(digests)}"'
        metadata = {**record.get("metadata", {}), "x-reeldrop-multipart-upload": upload_id}
        self.commit(key, written, record.get("content_type", ""), metadata, etag)
        shutil.rmtree(self.multipart / upload_id, ignore_errors=True)

    def _concatenate(self, parts: list[Path]) -> WrittenFile:
        path = self.new_temp()
        size = 0
        try:
            with path.open("wb") as out:
                for part in parts:
                    with part.open("rb") as source:
                        shutil.copyfileobj(source, out, CHUNK * 4)  # copy_file_range/sendfile where it can
                        size += source.tell()
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return WrittenFile(path, size, "")

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self._upload_record(key, upload_id, "AbortMultipartUpload")
        except ClientError:
            return  # already gone: as S3 after an abort
        shutil.rmtree(self._upload_dir(upload_id), ignore_errors=True)

    def list_multipart_uploads(self, prefix: str = "") -> Iterator[dict[str, Any]]:
        for folder in sorted(self.multipart.iterdir()) if self.multipart.is_dir() else ():
            try:
                record = json.loads((folder / "upload.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                # A folder whose record never got written (killed inside create_multipart): debris.
                if time.time() - folder.stat().st_mtime > TMP_DEBRIS_AGE_S:
                    shutil.rmtree(folder, ignore_errors=True)
                continue
            if str(record.get("key", "")).startswith(prefix):
                yield {
                    "Key": record["key"],
                    "UploadId": folder.name,
                    "Initiated": datetime.fromisoformat(record["initiated"]),
                }

    # -- objects ---------------------------------------------------------------------------------
    def head(self, key: str) -> ObjectHead | None:
        path = self.object_path(key)
        try:
            meta = json.loads(self._meta_path(key).read_text(encoding="utf-8"))
            stat = path.stat()
        except (OSError, ValueError):
            return None
        return ObjectHead(
            size=stat.st_size,
            content_type=meta.get("content_type", ""),
            etag=meta.get("etag", ""),
            last_modified=datetime.fromtimestamp(stat.st_mtime, UTC),
            metadata=dict(meta.get("metadata", {})),
        )

    def delete(self, key: str) -> None:
        path = self.object_path(key)
        path.unlink(missing_ok=True)
        self._meta_path(key).unlink(missing_ok=True)
        for tree, folder in ((self.objects, path.parent), (self.meta, self._meta_path(key).parent)):
            while folder != tree and folder.is_relative_to(tree):  # empty folders go with their last object
                try:
                    folder.rmdir()
                except OSError:
                    break
                folder = folder.parent

    def copy(self, source_key: str, dest_key: str) -> None:
        head = self.head(source_key)
        if head is None:
            raise s3_error("NoSuchKey", "The specified key does not exist.", "CopyObject", 404)
        temp = self.new_temp()
        try:
            os.link(self.object_path(source_key), temp)  # objects are never changed in place: share the bytes
        except OSError:
            shutil.copyfile(self.object_path(source_key), temp)
        metadata = {k: v for k, v in head.metadata.items() if not k.startswith("x-reeldrop-")}
        self.commit(dest_key, WrittenFile(temp, head.size, ""), head.content_type, metadata, head.etag)

    def open_stream(self, key: str, byte_range: str | None = None) -> dict[str, Any]:
        head = self.head(key)
        if head is None:
            raise s3_error("NoSuchKey", "The specified key does not exist.", "GetObject", 404)
        try:
            span = parse_byte_range(byte_range, head.size)
        except Unsatisfiable as exc:
            raise s3_error("InvalidRange", str(exc), "GetObject", 416) from exc
        first, last = span if span is not None else (0, head.size - 1)
        length = max(0, last - first + 1)
        answer: dict[str, Any] = {
            "Body": FileBody(self.object_path(key), first, length),
            "ContentLength": length,
            "ContentType": head.content_type,
            "ETag": head.etag,
            "LastModified": head.last_modified,
            "Metadata": head.metadata,
        }
        if span is not None:
            answer["ContentRange"] = f"bytes {first}-{last}/{head.size}"
        return answer

    def list_objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        # Walk only the folder the prefix names (temp/ of a big store is not everything).
        folder = self.objects.joinpath(*[s for s in prefix.split("/")[:-1] if s not in ("", ".", "..")])
        for here, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                path = Path(here, name)
                key = path.relative_to(self.objects).as_posix()
                if not key.startswith(prefix):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    stat = path.stat()
                    yield {"Key": key, "Size": stat.st_size, "LastModified": datetime.fromtimestamp(stat.st_mtime, UTC)}
