"""What an answer to a (ranged) GET means for the bytes already on disk.

A resumed request carries ``Range: bytes=N-`` and ``If-Range: <etag>``. RFC 9110 lets the store answer
206 (the rest of the same object), 200 (the whole object: it changed, or the store ignores ranges), or 416;
`rclone serve s3` answers 200 with the Content-Range of the part it sends.
Some stores (moto, some S3 look-alikes) ignore If-Range and answer 206 for a changed object, so a 206 is only
trusted when its ETag is the one the bytes on disk came from and its Content-Range starts where they end.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


class Answer(Enum):
    APPEND = "append"  # 206 of the same object, starting at our offset: append the body
    FIRST = "first"  # 200 to a request without Range: the body is the whole object
    WHOLE_SAME = "whole_same"  # 200 with our ETag: the store ignored Range; drop our bytes, take the body
    WHOLE_CHANGED = "whole_changed"  # 200 with another ETag: the object changed; take it, with new figures
    CHANGED = "changed"  # unusable (206 of another object, 416, odd status): drop our bytes and ask again


def judge_answer(status: int, headers: Mapping[str, str], offset: int, etag: str | None) -> Answer:
    """Classify a non-error answer to a GET sent at ``offset`` for bytes that came from ``etag``."""
    answer_etag = headers.get("ETag")
    if status == 206:
        span = _CONTENT_RANGE.match(headers.get("Content-Range", ""))
        if span and int(span.group(1)) == offset and etag is not None and answer_etag == etag:
            return Answer.APPEND
        return Answer.CHANGED
    if status == 200:
        if offset == 0:
            return Answer.FIRST
        if "Content-Range" in headers:
            # A 200 carrying a Content-Range (`rclone serve s3` answers a Range GET so): the body is that
            # range, not the whole object. Ours, from our offset, is the rest; anything else, start again.
            span = _CONTENT_RANGE.match(headers["Content-Range"])
            ours = span and int(span.group(1)) == offset and etag is not None and answer_etag == etag
            return Answer.APPEND if ours else Answer.CHANGED
        return Answer.WHOLE_SAME if answer_etag is not None and answer_etag == etag else Answer.WHOLE_CHANGED
    return Answer.CHANGED
