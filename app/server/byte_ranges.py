"""HTTP Range headers of the one-range kind S3 and our clients use (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``)."""

from __future__ import annotations

import re

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Unsatisfiable(Exception):
    """The range lies outside the object: answer 416 with ``Content-Range: bytes */size``."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the range is outside the object's {size} bytes")
        self.size = size


def parse_byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One ``bytes=a-b`` range as (first, last); None = the whole file. Several ranges: the whole file."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        if n == 0:
            raise Unsatisfiable(size)
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise Unsatisfiable(size)
    return start, end
