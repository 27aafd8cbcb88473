"""S3 multipart part planning: pick a part size inside S3's limits and lay the parts out.

S3's rules: every part but the last is 5 MiB – 5 GiB, parts are numbered 1 – 10,000, and an object holds
at most 5 TiB. So the part size must be at least ``ceil(size / 10_000)``. We round part sizes we choose up
to a whole MiB (aligned reads, readable numbers); a part size handed to us by the server is only checked,
never changed, because the server already told S3 (and its own records) how the object is cut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MiB = 1024 * 1024
GiB = 1024 * MiB
TiB = 1024 * GiB

MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = 5 * TiB
DEFAULT_PART_SIZE = 16 * MiB
# A file uploaded in parts so that it can resume gets at least this many (when S3's 5 MiB minimum allows):
# with the default 4 connections every part of a 3-part file is on the wire at once, so a quit at 80 %
# would keep only the short last part; with 8, the first four are stored by the time the file is half sent.
RESUMABLE_PART_COUNT = 8


class PlanningError(ValueError):
    """The size or part size cannot be uploaded as an S3 multipart upload."""


@dataclass(frozen=True, slots=True)
class Part:
    """One part: S3's 1-based ``number`` and the byte range ``[offset, offset + length)`` of the file."""

    number: int
    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass(frozen=True, slots=True)
class PartPlan:
    size: int
    part_size: int
    parts: tuple[Part, ...]

    @property
    def part_count(self) -> int:
        return len(self.parts)

    def part(self, number: int) -> Part:
        """The part with S3 number ``number`` (1-based)."""
        if not 1 <= number <= len(self.parts):
            raise KeyError(f"part {number} is not in this plan (1..{len(self.parts)})")
        return self.parts[number - 1]


def _check_size(size: int) -> None:
    if size <= 0:
        raise PlanningError(f"cannot plan a multipart upload of {size} bytes: the file is empty")
    if size > MAX_OBJECT_SIZE:
        raise PlanningError(f"{size} bytes is over S3's object limit of {MAX_OBJECT_SIZE} bytes (5 TiB)")


def minimum_part_size(size: int) -> int:
    """The smallest part size S3 accepts for an object of ``size`` bytes (not rounded)."""
    _check_size(size)
    return max(MIN_PART_SIZE, math.ceil(size / MAX_PARTS))


def choose_part_size(size: int, preferred: int | None = None) -> int:
    """A part size for ``size`` bytes: ``preferred`` (or the default) moved into S3's limits, in whole MiB."""
    wanted = DEFAULT_PART_SIZE if preferred is None else preferred
    if wanted <= 0:
        raise PlanningError(f"preferred part size must be positive, got {wanted}")
    part_size = max(wanted, minimum_part_size(size))
    part_size = math.ceil(part_size / MiB) * MiB
    # MAX_PART_SIZE is a whole number of MiB and 5 TiB / 10,000 is far below it, so clamping here can
    # never push the part count over the limit.
    return min(part_size, MAX_PART_SIZE)


def part_size_to_resume(size: int) -> int:
    """The automatic part size of a file that asks for parts to be resumable: the default, or smaller so
    that the file has ``RESUMABLE_PART_COUNT`` parts (never under S3's minimum). Large files are unchanged."""
    return choose_part_size(size, min(DEFAULT_PART_SIZE, math.ceil(size / RESUMABLE_PART_COUNT)))


def split(size: int, part_size: int) -> PartPlan:
    """Lay out ``size`` bytes in parts of exactly ``part_size`` (the last may be smaller); checks limits."""
    _check_size(size)
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise PlanningError(f"part size {part_size} is outside S3's limits ({MIN_PART_SIZE}..{MAX_PART_SIZE} bytes)")
    count = math.ceil(size / part_size)
    if count > MAX_PARTS:
        raise PlanningError(f"part size {part_size} cuts {size} bytes into {count} parts; S3 allows {MAX_PARTS}")
    parts = tuple(
        Part(number=index + 1, offset=index * part_size, length=min(part_size, size - index * part_size))
        for index in range(count)
    )
    return PartPlan(size=size, part_size=part_size, parts=parts)


def plan_parts(size: int, preferred_part_size: int | None = None) -> PartPlan:
    """Choose a part size for ``size`` bytes and lay the parts out."""
    return split(size, choose_part_size(size, preferred_part_size))
