"""A presigned POST body (multipart/form-data) streamed from disk with a known Content-Length.

requests' ``files=`` builds the whole body in memory; this yields the policy fields, then the file in
the same throttled, progress-reporting, stall-watched blocks as a multipart part (a PartBody), then the
closing boundary. S3 reads the form fields before the file and ignores anything after it, so the file
goes last.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping

from app.core.transfer.part_bodies import PartBody


def _quoted(value: str) -> str:
    # RFC 7578: quotes and line breaks in a field or file name are percent-encoded.
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class FormPostBody:
    def __init__(self, fields: Mapping[str, str], filename: str, content_type: str, file_body: PartBody) -> None:
        self.boundary = "reeldrop-" + secrets.token_hex(16)
        dash = f"--{self.boundary}\r\n"
        head = "".join(
            f'{dash}Content-Disposition: form-data; name="{_quoted(name)}"\r\n\r\n{value}\r\n'
            for name, value in fields.items()
        )
        head += (
            f'{dash}Content-Disposition: form-data; name="file"; filename="{_quoted(filename)}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        )
        self._head = head.encode("utf-8")
        self._tail = f"\r\n--{self.boundary}--\r\n".encode("ascii")
        self._file = file_body

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self._head) + len(self._file) + len(self._tail)

    def __iter__(self) -> Iterator[bytes | memoryview]:
        yield self._head
        yield from self._file
        yield self._tail
