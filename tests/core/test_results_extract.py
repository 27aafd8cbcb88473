"""Safe extraction of results ZIPs (RELIABILITY.md tests 15 and 17), on ZIPs crafted here byte by byte.

Every refusal must leave the disk as it was: no file outside the target, no target, no staging folder.
"""

from __future__ import annotations

import io
import shutil
import stat
import struct
import subprocess
import uuid
import zipfile
from pathlib import Path

import pytest

from app.core.results.extract import (
    CorruptZipError,
    ExtractLimits,
    OverlappingEntriesError,
    UnsafeEntryNameError,
    UnsafeEntryTypeError,
    ZipExtractError,
    ZipLimitError,
    check_zip,
    extract_results,
)
from app.core.transfer.control import TransferCancelled, TransferControl

MiB = 1024 * 1024
EOCD = struct.Struct("<4s4H2LH")
CENTRAL_OFFSET_FIELD = 42  # where a central directory record keeps its local header offset


def build_zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]], **options: object) -> Path:
    with zipfile.ZipFile(path, "w", **options) as archive:  # type: ignore[arg-type]
        for name, data in entries:
            archive.writestr(name, data)
    return path


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def assert_refused(zip_path: Path, target: Path, error: type[ZipExtractError], entry: str | None = None) -> str:
    """Extraction raises ``error``; afterwards the target's parent holds exactly what it held before."""
    before = listing(target.parent)
    with pytest.raises(error) as caught:
        extract_results(zip_path, target)
    assert listing(target.parent) == before, "extraction left files behind"
    assert not target.exists()
    if entry is not None:
        assert caught.value.entry == entry
        assert repr(entry) in str(caught.value) and str(zip_path) in str(caught.value)
    return str(caught.value)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    (tmp_path / "out").mkdir()
    return tmp_path / "out" / "job-1"


def test_a_good_zip_lands_whole(tmp_path: Path, out: Path) -> None:
    entries = [("report.json", b'{"ok": true}'), ("clips/", b""), ("clips/a.mp4", b"\x00" * 5000), ("x/y/z.txt", b"z")]
    zip_path = build_zip(tmp_path / "r.zip", entries, compression=zipfile.ZIP_DEFLATED)
    progress: list[tuple[int, int]] = []
    result = extract_results(zip_path, out, on_progress=lambda done, total: progress.append((done, total)))
    assert result.folder == out and set(result.files) == {"report.json", "clips/a.mp4", "x/y/z.txt"}
    assert (out / "clips" / "a.mp4").read_bytes() == b"\x00" * 5000
    assert (out / "x" / "y" / "z.txt").read_bytes() == b"z"
    assert result.total_bytes == 12 + 5000 + 1 and progress[-1] == (5013, 5013)
    assert listing(out.parent) == {"job-1", *(f"job-1/{name}" for name in listing(out))}  # no staging left
    # a second extraction into the same folder needs overwrite=True and replaces it whole
    with pytest.raises(ZipExtractError, match="already exists and is not empty"):
        extract_results(zip_path, out)
    (out / "stale.txt").write_text("old")
    extract_results(zip_path, out, overwrite=True)
    assert not (out / "stale.txt").exists() and (out / "report.json").exists()
    assert listing(out.parent) == {"job-1", *(f"job-1/{name}" for name in listing(out))}


@pytest.mark.parametrize(
    "name",
    ["../escape.txt", "a/../../escape.txt", "C:\\escape.txt", "C:escape.txt", "\\\\server\\share\\x.txt",
     "clips\\..\\..\\x.txt", "a/./b.txt", "nul.txt", "bad\x01name"],
)  # fmt: skip
def test_names_that_could_escape_are_refused(tmp_path: Path, out: Path, name: str) -> None:
    zip_path = build_zip(tmp_path / "evil.zip", [("fine.txt", b"ok"), (zipfile.ZipInfo(name), b"pwned")])
    message = assert_refused(zip_path, out, UnsafeEntryNameError, name)
    assert "name" in message
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out" / "escape.txt").exists()


def test_an_absolute_path_is_refused_and_nothing_is_written_there(tmp_path: Path, out: Path) -> None:
    absolute = f"/tmp/reeldrop-escape-{uuid.uuid4().hex}.txt"
    zip_path = build_zip(tmp_path / "evil.zip", [("fine.txt", b"ok"), (zipfile.ZipInfo(absolute), b"pwned")])
    assert "absolute" in assert_refused(zip_path, out, UnsafeEntryNameError, absolute)
    assert not Path(absolute).exists()


@pytest.mark.parametrize(
    ("kind", "mode", "cause"),
    [("symlink", stat.S_IFLNK | 0o777, "symbolic link"), ("device", stat.S_IFCHR | 0o600, "device"),
     ("fifo", stat.S_IFIFO | 0o600, "FIFO")],
)  # fmt: skip
def test_links_and_devices_are_refused(tmp_path: Path, out: Path, kind: str, mode: int, cause: str) -> None:
    info = zipfile.ZipInfo(f"{kind}-entry")
    info.create_system = 3  # Unix: external_attr's high 16 bits are st_mode
    info.external_attr = mode << 16
    zip_path = build_zip(tmp_path / f"{kind}.zip", [("fine.txt", b"ok"), (info, str(tmp_path / "target").encode())])
    assert cause in assert_refused(zip_path, out, UnsafeEntryTypeError, f"{kind}-entry")


def test_duplicate_names_are_refused(tmp_path: Path, out: Path) -> None:
    buffer = tmp_path / "dup.zip"
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("a.txt", b"first")
        archive.writestr("A.TXT", b"case twin")
        archive.writestr("a.txt", b"second")
    assert_refused(buffer, out, UnsafeEntryNameError, "A.TXT")


def _local_record(name: str, data: bytes) -> tuple[bytes, bytes]:
    """(local header + data, central directory record) of one STORED entry at offset 0."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
    raw = buffer.getvalue()
    central_start = EOCD.unpack(raw[-EOCD.size :])[6]
    return raw[:central_start], raw[central_start : -EOCD.size]


def _with_offset(central: bytes, offset: int) -> bytes:
    return central[:CENTRAL_OFFSET_FIELD] + struct.pack("<L", offset) + central[CENTRAL_OFFSET_FIELD + 4 :]


def _assemble(body: bytes, centrals: list[bytes]) -> bytes:
    directory = b"".join(centrals)
    end = EOCD.pack(b"PK\x05\x06", 0, 0, len(centrals), len(centrals), len(directory), len(body), 0)
    return body + directory + end


def test_an_entry_hidden_inside_another_is_an_overlap_bomb(tmp_path: Path, out: Path) -> None:
    # "inner.txt" is a complete, valid entry whose bytes are the content of "outer.bin": two names, one
    # stretch of the archive, the building block of overlapping-file zip bombs
    inner_record, inner_central = _local_record("inner.txt", b"I am inside another entry" * 10)
    outer_record, outer_central = _local_record("outer.bin", inner_record)
    inner_offset = len(outer_record) - len(inner_record)
    raw = _assemble(outer_record, [outer_central, _with_offset(inner_central, inner_offset)])
    zip_path = tmp_path / "overlap.zip"
    zip_path.write_bytes(raw)
    assert zipfile.ZipFile(zip_path).namelist() == ["outer.bin", "inner.txt"]
    assert "overlap" in assert_refused(zip_path, out, OverlappingEntriesError, "inner.txt")


def test_many_names_for_one_entry_are_an_overlap_bomb(tmp_path: Path, out: Path) -> None:
    record, central = _local_record("same.txt", b"x" * 100)
    zip_path = tmp_path / "aliases.zip"
    # the same local header listed twice under two names (zipfile would notice the name mismatch only
    # when it opens the second one, after the first was written)
    alias = central.replace(b"same.txt", b"copy.txt")
    zip_path.write_bytes(_assemble(record, [central, _with_offset(alias, 0)]))
    assert_refused(zip_path, out, OverlappingEntriesError)


def test_a_bad_crc_stops_extraction_and_removes_what_was_written(tmp_path: Path, out: Path) -> None:
    payload = b"results " * 4096
    zip_path = build_zip(tmp_path / "crc.zip", [("first.txt", b"written before the bad entry"), ("bad.txt", payload)])
    raw = bytearray(zip_path.read_bytes())
    position = raw.index(payload) + 1000
    raw[position] ^= 0xFF
    zip_path.write_bytes(bytes(raw))
    assert "CRC" in assert_refused(zip_path, out, CorruptZipError, "bad.txt")


def test_a_header_that_understates_the_size_cannot_sneak_bytes_out(tmp_path: Path, out: Path) -> None:
    payload = b"A" * (256 * 1024)
    zip_path = build_zip(tmp_path / "liar.zip", [("liar.bin", payload)])
    raw = bytearray(zip_path.read_bytes())
    # file_size sits at offset 22 of the local header and 24 of the central record: claim 10 bytes
    raw[22:26] = struct.pack("<L", 10)
    central = EOCD.unpack(raw[-EOCD.size :])[6]
    raw[central + 24 : central + 28] = struct.pack("<L", 10)
    zip_path.write_bytes(bytes(raw))
    assert_refused(zip_path, out, CorruptZipError, "liar.bin")


def test_caps_on_count_total_and_ratio(tmp_path: Path, out: Path) -> None:
    many = build_zip(tmp_path / "many.zip", [(f"f{i}.txt", b"x") for i in range(6)])
    with pytest.raises(ZipLimitError, match="6 entries"):
        extract_results(many, out, limits=ExtractLimits(max_entries=5))
    big = build_zip(tmp_path / "big.zip", [("a.bin", b"a" * MiB), ("b.bin", b"b" * MiB)])
    with pytest.raises(ZipLimitError, match="expands to 2097152 bytes"):
        extract_results(big, out, limits=ExtractLimits(max_total_bytes=MiB + 1))
    bomb = build_zip(tmp_path / "bomb.zip", [("zeros.bin", bytes(20 * MiB))], compression=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 100_000
    assert ":1" in assert_refused(bomb, out, ZipLimitError, "zeros.bin")
    assert listing(tmp_path / "out") == set()


def test_cancel_mid_extraction_leaves_nothing(tmp_path: Path, out: Path) -> None:
    zip_path = build_zip(tmp_path / "r.zip", [(f"part{i}.bin", bytes([i]) * (3 * MiB)) for i in range(4)])
    control = TransferControl()
    seen: list[int] = []

    def on_progress(done: int, total: int) -> None:
        seen.append(done)
        if done >= 4 * MiB:
            control.cancel()

    with pytest.raises(TransferCancelled):
        extract_results(zip_path, out, control=control, on_progress=on_progress)
    assert max(seen) < 12 * MiB and listing(tmp_path / "out") == set()


def test_not_a_zip_is_a_clear_error(tmp_path: Path, out: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"<html>not a zip</html>")
    assert "not a readable ZIP" in assert_refused(junk, out, CorruptZipError)


def test_zip64_records_are_read_and_extracted(tmp_path: Path, out: Path) -> None:
    # RELIABILITY 17 asks for a > 4 GiB ZIP64; writing 4 GiB is too slow for every run, so ZIP64 records
    # are forced on small entries: the same extra fields and end records a big archive carries
    zip_path = tmp_path / "z64.zip"
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index in range(3):
            with archive.open(f"v{index}.bin", "w", force_zip64=True) as entry:
                entry.write(bytes([index]) * (MiB + index))
    raw = zip_path.read_bytes()
    for info in zipfile.ZipFile(zip_path).infolist():
        # each local header defers both sizes to its ZIP64 extra field (0xFFFFFFFF in the 32-bit slots)
        sizes = raw[info.header_offset + 18 : info.header_offset + 26]
        assert sizes == b"\xff" * 8 and b"\x01\x00\x10\x00" in raw[info.header_offset : info.header_offset + 60]
    if shutil.which("unzip"):
        subprocess.run(["unzip", "-tq", str(zip_path)], check=True, capture_output=True, timeout=60)
    result = extract_results(zip_path, out)
    assert result.total_bytes == 3 * MiB + 3
    assert (out / "v2.bin").read_bytes() == b"\x02" * (MiB + 2)


@pytest.mark.slow
def test_more_than_65535_entries_uses_zip64_end_records(tmp_path: Path) -> None:
    zip_path = tmp_path / "many.zip"
    count = 65_600
    with zipfile.ZipFile(zip_path, "w") as archive:
        for index in range(count):
            archive.writestr(f"d{index // 1000}/f{index}.txt", b"")
    assert b"PK\x06\x06" in zip_path.read_bytes()[-200:]  # the ZIP64 end of central directory
    assert len(check_zip(zip_path)) == count
    with pytest.raises(ZipLimitError, match=f"{count} entries"):
        check_zip(zip_path, ExtractLimits(max_entries=count - 1))


def test_many_entries_each_under_the_ratio_floor_are_still_a_bomb(tmp_path: Path, out: Path) -> None:
    """Issue 15 item 15: the ratio cap looked only at entries over 8 MiB; 128 entries of 8 MiB of zeros (a
    1 MB ZIP) extracted to 1 GiB. The whole archive now has a ratio cap too."""
    entries = [(f"clips/zeros-{i}.bin", bytes(8 * MiB)) for i in range(32)]
    bomb = build_zip(tmp_path / "bomb.zip", entries, compression=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 500_000  # 256 MiB in it
    assert "allowed for a whole archive" in assert_refused(bomb, out, ZipLimitError)
    with pytest.raises(ZipLimitError):
        check_zip(bomb)


def test_the_entry_count_is_read_from_the_end_records_first(tmp_path: Path, out: Path) -> None:
    """Issue 15 item 16: zipfile reads the whole central directory on open: a 1,000,000-entry ZIP cost 20-24 s
    and 530 MiB before the 100,000 cap refused it. The end record's count is checked first: here it claims a
    million entries over a central directory that is not even there, and the count is what is refused."""
    local, central = _local_record("a.txt", b"hello")
    fake_end = EOCD.pack(b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, len(central), len(local), 0)
    counts = (1_000_000, 1_000_000, len(central), len(local))
    zip64_record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, *counts)
    record_at = len(local) + len(central)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, record_at, 1)
    huge = tmp_path / "huge.zip"
    huge.write_bytes(local + central + zip64_record + locator + fake_end)
    message = assert_refused(huge, out, ZipLimitError)
    assert "1000000 entries" in message
    many = build_zip(tmp_path / "many.zip", [(f"f{i}.txt", b"x") for i in range(6)])
    with pytest.raises(ZipLimitError, match="6 entries"):
        check_zip(many, ExtractLimits(max_entries=5))


@pytest.mark.parametrize(
    ("name", "cause"),
    [
        ("d/" * 2000 + "deep.txt", "folders deep"),
        ("n" * 300 + ".txt", "longer than"),
        (("x" * 200 + "/") * 6 + "f", "longer than"),
    ],
)
def test_folders_too_deep_or_names_too_long_are_refused(tmp_path: Path, out: Path, name: str, cause: str) -> None:
    """2,000 nested folders raised an uncaught RecursionError in `reeldrop download`."""
    deep = build_zip(tmp_path / "deep.zip", [("ok.txt", b"fine"), (name, b"x")])
    assert cause in assert_refused(deep, out, UnsafeEntryNameError)
