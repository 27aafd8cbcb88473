"""The object store: every storage call the server makes goes through one ``ObjectStore``.

Two stores implement it: ``S3Store`` (boto3; AWS, MinIO, any S3-compatible service) and ``FileStore``
(file_store.py: a folder on this machine, for "This computer" and single-box servers). Both speak S3's
error vocabulary: a failed call raises botocore's ``ClientError`` with S3's code (NoSuchKey, NoSuchUpload,
InvalidPart...), so the routes and the worker handle one set of errors whatever the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, Protocol

from botocore.exceptions import ClientError

from .errors import StorageAnswerError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObjectHead:
    size: int
    content_type: str
    etag: str
    last_modified: datetime
    metadata: dict[str, str]


@dataclass(frozen=True)
class StoredPart:
    part_number: int
    etag: str
    size: int


def is_missing(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound", "NoSuchUpload")


def required(answer: dict[str, Any], field: str, operation: str) -> Any:
    try:
        return answer[field]
    except (KeyError, TypeError):
        raise StorageAnswerError(operation, field) from None


def multipart_etag(part_md5s: list[bytes]) -> str:
    """S3's ETag of a multipart object, unquoted: the MD5 of its parts' MD5s, then "-" and their count."""
    return f"{hashlib.md5(b''.join(part_md5s), usedforsecurity=False).hexdigest()}-{len(part_md5s)}"


def not_supported(exc: ClientError) -> bool:
    """The store does not implement the operation (s3rver answers ListParts 405, others 501 NotImplemented)."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("NotImplemented", "MethodNotAllowed", "405", "501") or status in (405, 501)


MIB = 1024 * 1024
COPY_OBJECT_LIMIT = 5 * 1024**3  # S3's largest CopyObject
COPY_PART_SIZE = 512 * MIB  # parts of a multipart copy above it (at most 10,000: up to 5 TiB)
BinaryStream = IO[bytes] | io.RawIOBase  # what put_stream reads: a file, or a generator wrapped as one


class ObjectBody(Protocol):
    """An object's bytes being read (botocore's StreamingBody, or a file of the FileStore)."""

    def read(self, amt: int | None = None) -> bytes: ...

    def iter_chunks(self, chunk_size: int = ...) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class ObjectStore(Protocol):
    """What the server needs of a store. Presigned URLs are answered by the store itself (S3), or by this
    server's /storage routes (FileStore): either way the client gets URL + method + headers/fields."""

    bucket: str

    def ensure_bucket(self) -> None: ...

    def ping(self) -> None: ...

    def presigned_post(
        self, key: str, content_type: str, max_size: int, expires_in: int, metadata: dict[str, str]
    ) -> dict[str, Any]: ...

    def presigned_part_url(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        expires_in: int,
        content_md5: str | None = None,
        checksum_crc32c: str | None = None,
        max_size: int | None = None,
        content_length: int | None = None,
    ) -> str: ...

    def presigned_get_url(self, key: str, expires_in: int, download_name: str | None = None) -> str: ...

    def create_multipart(
        self, key: str, content_type: str, metadata: dict[str, str], checksum_algorithm: str | None = None
    ) -> str: ...

    def list_parts(self, key: str, upload_id: str, page_size: int = 1000) -> list[StoredPart]: ...

    def complete_multipart(
        self, key: str, upload_id: str, parts: list[tuple[int, str]], crc32c: dict[int, str] | None = None
    ) -> None: ...

    def abort_multipart(self, key: str, upload_id: str) -> None: ...

    def list_multipart_uploads(self, prefix: str = "") -> Iterator[dict[str, Any]]:
        """Dicts with Key, UploadId and Initiated (an aware datetime), as S3's ListMultipartUploads."""
        ...

    def head(self, key: str) -> ObjectHead | None: ...

    def delete(self, key: str) -> None: ...

    def copy(self, source_key: str, dest_key: str) -> None: ...

    def put_stream(self, key: str, stream: BinaryStream, content_type: str) -> None: ...

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...

    def open_stream(self, key: str, byte_range: str | None = None) -> dict[str, Any]:
        """{"Body": ObjectBody, "ContentLength": int, ...} as S3's GetObject; byte_range as ``bytes=a-b``."""
        ...

    def list_objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        """Dicts with Key, Size and LastModified (an aware datetime), as S3's ListObjectsV2."""
        ...


class S3Store:
    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
    ) -> None:
        # boto3 is imported here, not at the top: it costs ~0.1 s, and "This computer" starts without S3.
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self.endpoint_url = endpoint_url
        # Streams of unknown length (results ZIPs, small uploads through the API): 8 MiB parts, 4 at a time.
        self._stream_upload = TransferConfig(
            multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB, max_concurrency=4
        )
        config = Config(
            signature_version="s3v4",
            # Path-style keeps presigned URLs valid on custom endpoints (moto, MinIO) without DNS tricks.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            retries={"max_attempts": 5, "mode": "standard"},
            max_pool_connections=32,
        )
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )

    # -- bucket ----------------------------------------------------------------------------------
    def ensure_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            log.info("creating bucket %s", self.bucket)
            self.client.create_bucket(Bucket=self.bucket)

    def ping(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)

    # -- presigning ------------------------------------------------------------------------------
    def presigned_post(
        self, key: str, content_type: str, max_size: int, expires_in: int, metadata: dict[str, str]
    ) -> dict[str, Any]:
        fields: dict[str, str] = {"Content-Type": content_type}
        conditions: list[Any] = [{"Content-Type": content_type}, ["content-length-range", 1, max_size]]
        for name, value in metadata.items():
            fields[f"x-amz-meta-{name}"] = value
            conditions.append({f"x-amz-meta-{name}": value})
        # boto3 adds the exact {"key": key} and {"bucket": ...} conditions itself.
        return self.client.generate_presigned_post(
            Bucket=self.bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=expires_in
        )

    def presigned_part_url(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        expires_in: int,
        content_md5: str | None = None,
        checksum_crc32c: str | None = None,
        max_size: int | None = None,  # S3 cannot bound a URL's body by a maximum, only by an exact length
        content_length: int | None = None,
    ) -> str:
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "UploadId": upload_id,
            "PartNumber": part_number,
        }
        if content_length:
            params["ContentLength"] = content_length  # a signed header: S3 takes no body of another size
        if content_md5:
            params["ContentMD5"] = content_md5
        if checksum_crc32c:
            params["ChecksumCRC32C"] = checksum_crc32c
        return self.client.generate_presigned_url("upload_part", Params=params, ExpiresIn=expires_in)

    def presigned_get_url(self, key: str, expires_in: int, download_name: str | None = None) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if download_name:
            params["ResponseContentDisposition"] = f'attachment; filename="{download_name}"'
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)

    # -- multipart -------------------------------------------------------------------------------
    def create_multipart(
        self, key: str, content_type: str, metadata: dict[str, str], checksum_algorithm: str | None = None
    ) -> str:
        extra = {"ChecksumAlgorithm": checksum_algorithm} if checksum_algorithm else {}
        answer = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType=content_type, Metadata=metadata, **extra
        )
        return str(required(answer, "UploadId", "CreateMultipartUpload"))

    def list_parts(self, key: str, upload_id: str, page_size: int = 1000) -> list[StoredPart]:
        """All parts S3 holds for an upload; ListParts pages hold at most 1,000 entries."""
        parts: list[StoredPart] = []
        marker = 0
        while True:
            page = self.client.list_parts(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker, MaxParts=page_size
            )
            for part in page.get("Parts", []):
                fields = (required(part, name, "ListParts") for name in ("PartNumber", "ETag", "Size"))
                parts.append(StoredPart(*fields))
            if not page.get("IsTruncated"):
                return parts
            next_marker = int(page.get("NextPartNumberMarker") or 0)
            if next_marker <= marker:  # a store that does not advance must not loop us forever
                return parts
            marker = next_marker

    def complete_multipart(
        self, key: str, upload_id: str, parts: list[tuple[int, str]], crc32c: dict[int, str] | None = None
    ) -> None:
        listed = []
        for number, etag in parts:
            entry: dict[str, Any] = {"PartNumber": number, "ETag": etag}
            if crc32c and crc32c.get(number):
                entry["ChecksumCRC32C"] = crc32c[number]  # S3 needs them when the upload has an algorithm
            listed.append(entry)
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": listed}
        )

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if not is_missing(exc):
                raise

    def list_multipart_uploads(self, prefix: str = "") -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Uploads", [])

    # -- objects ---------------------------------------------------------------------------------
    def head(self, key: str) -> ObjectHead | None:
        try:
            answer = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise
        return ObjectHead(
            size=int(required(answer, "ContentLength", "HeadObject")),
            content_type=answer.get("ContentType", ""),
            etag=answer.get("ETag", ""),
            last_modified=required(answer, "LastModified", "HeadObject"),
            metadata=answer.get("Metadata", {}),
        )

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    # Browser uploads (the browser-upload API's JS client): the POST form, part PUTs (whose ETag the page reads to
    # complete) and GETs of results, from the pages the operator names.
    CORS_RULE_ID = "reeldrop-browser-uploads"

    def put_cors(self, origins: list[str]) -> None:
        rule = {
            "ID": self.CORS_RULE_ID,
            "AllowedOrigins": origins,
            "AllowedMethods": ["GET", "HEAD", "POST", "PUT"],
            "AllowedHeaders": ["*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 600,
        }
        try:
            rules = self.client.get_bucket_cors(Bucket=self.bucket).get("CORSRules", [])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchCORSConfiguration":
                raise
            rules = []
        # The operator's own rules stay; ours replaces the one it set at an earlier start.
        kept = [r for r in rules if r.get("ID") != self.CORS_RULE_ID]
        self.client.put_bucket_cors(Bucket=self.bucket, CORSConfiguration={"CORSRules": [*kept, rule]})

    def copy(self, source_key: str, dest_key: str) -> None:
        """A server-side copy: one CopyObject up to S3's 5 GB limit for it, a multipart copy (UploadPartCopy)
        only above. boto3's managed copy would go multipart from 8 MiB, and stores without UploadPartCopy
        then fail. Where the store has no copy at all, the object is streamed through (GET, then PUT)."""
        from boto3.s3.transfer import TransferConfig

        source = {"Bucket": self.bucket, "Key": source_key}
        try:
            head = self.client.head_object(**source)
            if int(required(head, "ContentLength", "HeadObject")) <= COPY_OBJECT_LIMIT:
                self.client.copy_object(CopySource=source, Bucket=self.bucket, Key=dest_key)
            else:
                big_parts = TransferConfig(multipart_threshold=COPY_OBJECT_LIMIT, multipart_chunksize=COPY_PART_SIZE)
                self.client.copy(source, self.bucket, dest_key, Config=big_parts)
        except ClientError as exc:
            if not not_supported(exc):
                raise
            log.info("the store cannot copy %s server-side (%s); streaming it through", source_key, exc)
            self._copy_through(source_key, dest_key)

    def _copy_through(self, source_key: str, dest_key: str) -> None:
        answer = self.client.get_object(Bucket=self.bucket, Key=source_key)
        content_type = answer.get("ContentType", "binary/octet-stream")
        extra = {"ContentType": content_type, "Metadata": answer.get("Metadata") or {}}
        with contextlib.closing(answer["Body"]) as body:
            self.client.upload_fileobj(body, self.bucket, dest_key, ExtraArgs=extra, Config=self._stream_upload)

    def put_stream(self, key: str, stream: BinaryStream, content_type: str) -> None:
        self.client.upload_fileobj(
            stream, self.bucket, key, ExtraArgs={"ContentType": content_type}, Config=self._stream_upload
        )

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def open_stream(self, key: str, byte_range: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if byte_range:
            params["Range"] = byte_range
        return self.client.get_object(**params)

    def list_objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", [])
