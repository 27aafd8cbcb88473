"""The FileStore's presigned URLs, answered the way S3 answers them (only when the server runs on a folder).

- ``PUT /storage/{key}?uploadId&partNumber&X-RD-…``: one multipart part; answers its ETag (the part's MD5),
  400 BadDigest when a signed Content-MD5 / x-amz-checksum-crc32c does not match the bytes.
- ``POST /storage/``: a presigned POST form (the older clients): fields first, then ``file``; 204 + ETag.
- ``GET``/``HEAD /storage/{key}?X-RD-…``: an object, with one-range ``Range`` (206 + Content-Range).

Errors are S3's XML ``<Error><Code>…`` with S3's status, so the client's retry rules (403 "expired" → sign
again, BadDigest → send again) work unchanged. Nothing is written before the signature is checked, and a
body is never held in memory: it goes to a temp file in 1 MiB blocks, hashed on the way, and is renamed
into place only once every check passed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from xml.sax.saxutils import escape

from botocore.exceptions import ClientError
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from ..file_store import CHUNK, FileStore, TempWriter, s3_error
from ..url_signing import Refusal

log = logging.getLogger(__name__)
router = APIRouter(tags=["storage"], include_in_schema=False)

MAX_FORM_FIELDS = 64
MAX_FORM_FIELD_BYTES = 64 * 1024  # all the policy fields together: a few KB in practice


def _store(request: Request) -> FileStore:
    store = request.app.state.services.store
    if not isinstance(store, FileStore):
        raise Refusal(404, "NoSuchBucket", "This server's objects are not stored here.")
    return store


def _error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")


def _from_client_error(exc: ClientError) -> Response:
    error = exc.response.get("Error", {})
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
    return _error(status, str(error.get("Code", "InternalError")), str(error.get("Message", "")))


async def _answer(work: Callable[[], Any]) -> Response:
    try:
        result: Response = await work()
        return result
    except Refusal as refusal:
        return _error(refusal.status, refusal.code, refusal.message)
    except ClientError as exc:
        return _from_client_error(exc)
    except ClientDisconnect:
        log.info("a client went away in the middle of an upload; nothing was kept")
        return Response(status_code=400)


async def _batches(request: Request) -> AsyncIterator[bytes]:
    """The request body in blocks of about 1 MiB (one thread hop per block, not per 64 KB read)."""
    pending = bytearray()
    async for chunk in request.stream():
        pending += chunk
        if len(pending) >= CHUNK:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


def _declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length", "")
    return int(raw) if raw.isdigit() else None


# -- multipart parts ------------------------------------------------------------------------------
@router.put("/storage/{key:path}")
async def put_part(key: str, request: Request) -> Response:
    async def work() -> Response:
        store = _store(request)
        signed = store.signer.verify_request("PUT", key, request.query_params, request.headers)
        if not signed.upload_id or not signed.part_number:
            raise Refusal(400, "InvalidRequest", "This URL is for a multipart part; it names no upload or part.")
        declared = _declared_length(request)
        if declared is not None and declared > signed.max_size:
            raise s3_error("EntityTooLarge", f"A part of this upload is at most {signed.max_size} bytes.", "Put")
        writer = TempWriter(store.new_temp(), signed.max_size, crc32c=bool(signed.checksum_crc32c))
        try:
            async for block in _batches(request):
                await run_in_threadpool(writer.write, block)
            if declared is not None and writer.size != declared:
                raise s3_error("IncompleteBody", "The body is shorter than its Content-Length.", "UploadPart")
            if signed.content_md5 and writer.md5_base64() != signed.content_md5:
                raise s3_error("BadDigest", "The Content-MD5 you specified did not match what we received.", "Put")
            if signed.checksum_crc32c and writer.crc32c_base64() != signed.checksum_crc32c:
                raise s3_error("BadDigest", "The CRC32C you specified did not match the calculated checksum.", "Put")
            written = await run_in_threadpool(writer.finish)
        except BaseException:
            writer.discard()
            raise
        try:
            etag = await run_in_threadpool(store.store_part, key, signed.upload_id, signed.part_number, written)
        finally:
            written.path.unlink(missing_ok=True)  # gone already when it was renamed into place
        headers = {"ETag": etag}
        if signed.checksum_crc32c:
            headers["x-amz-checksum-crc32c"] = signed.checksum_crc32c
        return Response(status_code=200, headers=headers)

    return await _answer(work)


# -- presigned POST -------------------------------------------------------------------------------
class _FormReceiver:
    """multipart/form-data parsed as it arrives: fields (bounded) until ``file``, whose bytes go to disk
    only once the fields have passed the policy; anything after the file is ignored, as S3 does."""

    def __init__(self, store: FileStore, boundary: bytes) -> None:
        self.store = store
        self.fields: dict[str, str] = {}
        self.writer: TempWriter | None = None
        self.file_done = False
        self._field_bytes = 0
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._value = bytearray()
        self._in_file = False
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": lambda d, s, e: self._grow("_header_name", d[s:e]),
                "on_header_value": lambda d, s, e: self._grow("_header_value", d[s:e]),
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
        )

    def _grow(self, attribute: str, data: bytes) -> None:
        self._count(len(data))
        setattr(self, attribute, getattr(self, attribute) + data)

    def _count(self, n: int) -> None:
        self._field_bytes += n
        if self._field_bytes > MAX_FORM_FIELD_BYTES or len(self.fields) > MAX_FORM_FIELDS:
            raise Refusal(400, "MaxPostPreDataLengthExceeded", "The form's fields before the file are too large.")

    def _part_begin(self) -> None:
        self._headers, self._name, self._value = {}, None, bytearray()

    def _header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name == "file" and not self.file_done:
            max_size = self.store.signer.verify_post(self.fields)
            self.writer = TempWriter(self.store.new_temp(), max_size)
            self._in_file = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.file_done:
            return
        if self._in_file:
            assert self.writer is not None
            self.writer.write(data[start:end])
        else:
            self._count(end - start)
            self._value += data[start:end]

    def _part_end(self) -> None:
        if self._in_file:
            self._in_file, self.file_done = False, True
        elif not self.file_done and self._name:
            self.fields[self._name] = self._value.decode("utf-8", "replace")

    def write(self, block: bytes) -> None:
        self.parser.write(block)


@router.post("/storage/")
@router.post("/storage", include_in_schema=False)
async def post_object(request: Request) -> Response:
    async def work() -> Response:
        store = _store(request)
        kind, options = parse_options_header(request.headers.get("content-type", ""))
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise Refusal(400, "InvalidRequest", "A POST upload is a multipart/form-data form.")
        receiver = _FormReceiver(store, boundary)
        try:
            async for block in _batches(request):
                await run_in_threadpool(receiver.write, block)
            if receiver.writer is None or not receiver.file_done:
                raise Refusal(400, "InvalidArgument", "The form has no complete file field.")
            if receiver.writer.size < 1:
                raise s3_error("EntityTooSmall", "The file is empty.", "PostObject")
            written = await run_in_threadpool(receiver.writer.finish)
        except BaseException:
            if receiver.writer is not None:
                receiver.writer.discard()
            raise
        fields = receiver.fields
        metadata = {k[len("x-amz-meta-") :]: v for k, v in fields.items() if k.lower().startswith("x-amz-meta-")}
        key = fields["key"]
        etag = await run_in_threadpool(store.commit, key, written, fields.get("Content-Type", ""), metadata)
        status = fields.get("success_action_status", "204")
        headers = {"ETag": etag, "Location": f"{store.base_url}/storage/{key}"}
        if status == "201":
            body = (
                f"<PostResponse><Location>{escape(headers['Location'])}</Location><Bucket>{escape(store.bucket)}"
                f"</Bucket><Key>{escape(key)}</Key><ETag>{escape(etag)}</ETag></PostResponse>"
            )
            return Response(body, status_code=201, headers=headers, media_type="application/xml")
        return Response(status_code=200 if status == "200" else 204, headers=headers)

    return await _answer(work)


# -- downloads ------------------------------------------------------------------------------------
@router.get("/storage/{key:path}")
@router.head("/storage/{key:path}")
async def get_object(key: str, request: Request) -> Response:
    async def work() -> Response:
        store = _store(request)
        # A HEAD is allowed by a GET URL, as on S3 (the method signed is GET).
        signed = store.signer.verify_request("GET", key, request.query_params, request.headers)
        answer = await run_in_threadpool(store.open_stream, key, request.headers.get("range"))
        headers = {
            "Accept-Ranges": "bytes",
            "Content-Length": str(answer["ContentLength"]),
            "ETag": answer["ETag"],
            "Last-Modified": answer["LastModified"].strftime("%a, %d %b %Y %H:%M:%S GMT"),
        }
        if signed.disposition:
            headers["Content-Disposition"] = signed.disposition
        status = 200
        if "ContentRange" in answer:
            status, headers["Content-Range"] = 206, answer["ContentRange"]
        body = answer["Body"]
        media_type = answer["ContentType"] or "application/octet-stream"
        if request.method == "HEAD":
            body.close()
            return Response(status_code=status, headers=headers, media_type=media_type)

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(CHUNK)
            finally:
                body.close()

        return StreamingResponse(chunks(), status_code=status, headers=headers, media_type=media_type)

    return await _answer(work)
