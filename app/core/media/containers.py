"""A look at the top-level boxes of MP4/MOV (ISO BMFF) files.

ffprobe alone cannot tell a truncated MP4 from garbage ("moov atom not found" for both), and it happily
reads an MP4 whose ``moov`` is at the front but whose ``mdat`` was cut short. Walking the top-level boxes
answers both questions by reading a few bytes per box, without decoding anything.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

# Boxes a file may legitimately start with (``ftyp`` for MP4, the others for old QuickTime files).
_LEADING_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"styp"}
_MAX_BOXES = 100_000  # a fragmented hour of video has a few thousand; this bounds the walk on garbage


@dataclass(frozen=True)
class BoxScan:
    is_iso_bmff: bool
    box_types: tuple[str, ...]
    truncated: bool
    reason: str = ""

    @property
    def has_moov(self) -> bool:
        return "moov" in self.box_types

    @property
    def is_fragmented(self) -> bool:
        return "moof" in self.box_types


def scan_boxes(path: Path | str) -> BoxScan:
    """Walk the top-level boxes; report whether the file is ISO BMFF and whether it was cut short."""
    path = Path(path)
    size = path.stat().st_size
    types: list[str] = []
    with path.open("rb") as handle:
        offset = 0
        while offset < size and len(types) < _MAX_BOXES:
            handle.seek(offset)
            header = handle.read(16)
            if len(header) < 8:
                if not header.strip(b"\0") and _complete(types):
                    return BoxScan(True, tuple(types), False, "ignored trailing zero bytes")
                return BoxScan(bool(types), tuple(types), bool(types), f"box header at byte {offset} is cut")
            box_size, box_type = struct.unpack(">I4s", header[:8])
            if not types and box_type not in _LEADING_BOXES:
                return BoxScan(False, (), False, "does not start with an MP4/QuickTime box")
            if not _printable(box_type):
                return _cut(types, f"unreadable box at byte {offset}")
            if box_size == 1:
                if len(header) < 16:
                    return _cut(types, f"box header at byte {offset} is incomplete")
                box_size = struct.unpack(">Q", header[8:16])[0]
            elif box_size == 0:  # "extends to the end of the file"
                box_size = size - offset
            if box_size < 8:
                return _cut(types, f"invalid box size {box_size} at byte {offset}")
            types.append(box_type.decode("latin-1"))
            if offset + box_size > size:
                missing = offset + box_size - size
                reason = f"'{types[-1]}' box needs {missing} more bytes than the file has"
                return BoxScan(True, tuple(types), True, reason)
            offset += box_size
    if "moov" not in types:
        return _cut(types, "no 'moov' box (the index is missing)")
    if not _complete(types):
        return _cut(types, "no 'mdat' box (the media data is missing)")
    return BoxScan(True, tuple(types), False)


def _complete(types: list[str]) -> bool:
    return "moov" in types and ("mdat" in types or "moof" in types)


def _cut(types: list[str], reason: str) -> BoxScan:
    if _complete(types):
        # Index and media are both there; some recorders pad the end with zeros or junk. Not a cut.
        return BoxScan(True, tuple(types), False, f"ignored trailing bytes: {reason}")
    return BoxScan(bool(types), tuple(types), bool(types), reason)


def _printable(box_type: bytes) -> bool:
    return all(32 <= byte < 127 for byte in box_type)
