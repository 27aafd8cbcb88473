"""The MP4 box walk that tells a cut-short MP4 from garbage, on bytes of a real generated clip."""

from __future__ import annotations

from pathlib import Path

from app.core.media.containers import scan_boxes


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_complete_clip(clips) -> None:
    scan = scan_boxes(clips.small)
    assert scan.is_iso_bmff and not scan.truncated and scan.has_moov
    assert scan.box_types[0] == "ftyp" and "mdat" in scan.box_types


def test_padding_or_junk_after_a_complete_file_is_not_a_cut(clips, tmp_path: Path) -> None:
    data = clips.small.read_bytes()
    for name, tail in [("zeros.mp4", b"\0" * 5), ("zeros16.mp4", b"\0" * 64), ("junk.mp4", b"\xff\x01" * 9)]:
        scan = scan_boxes(_write(tmp_path, name, data + tail))
        assert not scan.truncated, (name, scan.reason)


def test_cuts_anywhere_are_truncation(clips, tmp_path: Path) -> None:
    data = clips.small.read_bytes()
    for cut in (12, len(data) // 3, len(data) - 1):
        scan = scan_boxes(_write(tmp_path, f"cut{cut}.mp4", data[:cut]))
        assert scan.is_iso_bmff and scan.truncated, cut


def test_faststart_file_with_its_media_cut_off(clips, tmp_path: Path) -> None:
    faststart = clips.truncated_faststart.read_bytes()
    scan = scan_boxes(clips.truncated_faststart)
    assert scan.truncated and "mdat" in scan.reason
    moov_end = faststart.index(b"mdat") - 4  # everything up to the media box: index but no media
    scan = scan_boxes(_write(tmp_path, "index_only.mp4", faststart[:moov_end]))
    assert scan.truncated and "no 'mdat'" in scan.reason


def test_text_is_not_iso_bmff(clips) -> None:
    scan = scan_boxes(clips.text_as_mp4)
    assert not scan.is_iso_bmff and not scan.truncated
