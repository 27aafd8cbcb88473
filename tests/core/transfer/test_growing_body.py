"""GrowingPartBody: a part sent while its file is still being written (a lead part), with a real writer
thread and the real stall watchdog."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

from app.core.transfer.checksums import ChecksumAlgorithm
from app.core.transfer.control import TransferControl, TransferPaused
from app.core.transfer.growing import GrowingFile, GrowingFileAbandoned, GrowingPartBody, PartCutShort
from app.core.transfer.stall import StallWatchdog

KiB = 1024
JOIN = 10


def write_slowly(
    path: Path, growing: GrowingFile, chunks: list[bytes], pause: float, *, end: str = "finish"
) -> threading.Thread:
    def run() -> None:
        with open(path, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                out.flush()
                time.sleep(pause)
        getattr(growing, end)()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_bytes_are_sent_as_they_are_written_and_waiting_for_the_writer_is_not_a_stall(tmp_path):
    path = tmp_path / "lead.mp4"
    path.write_bytes(b"")
    growing = GrowingFile(path, poll=0.01)
    chunks = [bytes([n]) * 300 * KiB for n in range(6)]
    writer = write_slowly(path, growing, chunks, pause=0.4)  # silences longer than the stall timeout
    with StallWatchdog(0.2, poll_interval=0.02) as watchdog, watchdog.watching("lead") as activity:
        body = GrowingPartBody(growing, 300 * KiB, 4 * 300 * KiB, block_size=256 * KiB, activity=activity,
                               algorithm=ChecksumAlgorithm.MD5)  # fmt: skip
        received, first_at = [], None
        for piece in body:
            first_at = first_at or time.monotonic()
            received.append(bytes(piece))
        done_at = time.monotonic()
    writer.join(JOIN)
    sent = b"".join(received)
    assert sent == b"".join(chunks[1:5])  # from its offset, exactly its length
    assert body.checksum is not None and body.checksum.digest == hashlib.md5(sent).digest()
    assert not activity.stalled
    assert done_at - first_at >= 0.8  # it followed the writer: it did not wait for the whole part first


def test_a_file_that_ends_inside_the_part_cuts_the_body_short(tmp_path):
    path = tmp_path / "short.mp4"
    path.write_bytes(b"")
    growing = GrowingFile(path, poll=0.01)
    writer = write_slowly(path, growing, [b"x" * 200 * KiB] * 3, pause=0.05)
    body = GrowingPartBody(growing, 0, 1024 * KiB, block_size=128 * KiB)
    with pytest.raises(PartCutShort, match=r"ended 434176 bytes before the end of this part"):
        for _piece in body:
            pass
    writer.join(JOIN)


def test_a_writer_that_gives_up_ends_the_body(tmp_path):
    path = tmp_path / "abandoned.mp4"
    path.write_bytes(b"")
    growing = GrowingFile(path, poll=0.01)
    writer = write_slowly(path, growing, [b"x" * 100 * KiB] * 2, pause=0.05, end="abandon")
    with pytest.raises(GrowingFileAbandoned):
        for _piece in GrowingPartBody(growing, 0, 1024 * KiB, block_size=64 * KiB):
            pass
    writer.join(JOIN)


def test_a_pause_reaches_a_body_that_waits_for_the_writer(tmp_path):
    path = tmp_path / "paused.mp4"
    path.write_bytes(b"y" * 100 * KiB)
    growing = GrowingFile(path, poll=0.01)  # nobody writes more: the body waits
    control = TransferControl()
    body = GrowingPartBody(growing, 0, 1024 * KiB, block_size=64 * KiB, control=control)
    pieces = iter(body)
    next(pieces)
    threading.Timer(0.2, control.pause).start()
    started = time.monotonic()
    with pytest.raises(TransferPaused):
        for _piece in pieces:
            pass
    assert time.monotonic() - started < 3  # within a wait slice of the pause, not when the writer ends
