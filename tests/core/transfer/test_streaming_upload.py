"""Uploading a file while it is written (compress-while-upload), against the real backend and S3 (through the
fault proxy and the checksum-verifying front): parts leave before the writer is done, a writer that goes back
and patches bytes still ends as a correct upload, and a writer that gives up or overruns leaves nothing."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from app.core.transfer.engine import UploadEngine
from app.core.transfer.growing import GrowingFile
from app.core.transfer.handle import UploadError, UploadHandle
from app.core.transfer.journal import UploadState
from tests.support.upload_stack import MiB, multipart_uploads_left, part_match, stored_sha256, upload_status
from tests.support.waiting import wait_until

RESULT_TIMEOUT = 60


class Writer(threading.Thread):
    """Appends random blocks to a file like an encoder would; ``before_finish`` runs once all are written."""

    def __init__(
        self,
        path: Path,
        growing: GrowingFile,
        blocks: int,
        *,
        gate: Callable[[int], None] | None = None,
        before_finish: Callable[[Path], None] | None = None,
        give_up_after: int | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.path, self.growing, self.blocks = path, growing, blocks
        self.gate, self.before_finish, self.give_up_after = gate, before_finish, give_up_after
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with open(self.path, "wb") as out:
                for index in range(self.blocks):
                    if self.gate is not None:
                        self.gate(index)
                    if self.give_up_after is not None and index == self.give_up_after:
                        self.growing.abandon()
                        return
                    out.write(os.urandom(MiB))
                    out.flush()
            if self.before_finish is not None:
                self.before_finish(self.path)
            self.growing.finish()
        except BaseException as error:  # surfaced by the test
            self.error = error
            self.growing.abandon()


def wait_until_sent(engine: UploadEngine, handle: UploadHandle, at_least: int) -> int:
    """Wait until ``at_least`` bytes of the upload are stored or on the wire; returns how many there are."""
    wait_until(lambda: engine.snapshot().file(handle.file_id).done >= at_least, timeout=30)
    return engine.snapshot().file(handle.file_id).done


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_parts_leave_while_the_file_is_still_being_written(faults, uploader, make_engine, tmp_path):
    path = tmp_path / "growing.mp4"
    growing = GrowingFile(path, poll=0.02)
    engine = make_engine()
    handle = engine.submit_growing(path, growing, upper_bound=64 * MiB)
    stored_before_end: list[int] = []

    def gate(index: int) -> None:
        if index == 18:  # three 5 MiB parts are written: wait until S3 holds at least one of them
            stored_before_end.append(wait_until_sent(engine, handle, 5 * MiB))

    writer = Writer(path, growing, 23, gate=gate)
    writer.start()
    result = handle.result(RESULT_TIMEOUT)
    writer.join(10)
    assert writer.error is None
    assert stored_before_end and stored_before_end[0] >= 5 * MiB  # uploaded before the writer was done
    assert result.size == 23 * MiB and result.part_count == 5  # 4 x 5 MiB + 3 MiB
    assert result.sha256 == sha256_file(path) == stored_sha256(uploader, result.upload_id)
    record = uploader.call("GET", f"/api/upload/{result.upload_id}").json()
    assert record["status"] == "uploaded" and record["streaming"] is True and record["size"] == 23 * MiB
    assert record["part_count"] == 5
    entry = engine.journal.get(result.upload_id)
    assert entry is not None and entry.state is UploadState.COMPLETED and entry.size == 23 * MiB


def test_a_writer_that_patches_its_header_at_the_end_still_uploads_the_finished_file(
    faults, uploader, make_engine, tmp_path
):
    path = tmp_path / "patched.mp4"
    growing = GrowingFile(path, poll=0.02)
    engine = make_engine()
    handle = engine.submit_growing(path, growing, upper_bound=64 * MiB)

    def part_one_stored() -> bool:
        entry = engine.journal.get(handle.upload_id) if handle.upload_id else None
        return entry is not None and 1 in entry.finished_part_numbers

    def gate(index: int) -> None:
        if index == 11:  # two 5 MiB parts are written: wait until S3 holds part 1
            wait_until(part_one_stored, timeout=30)

    def patch_header(written: Path) -> None:  # like a muxer seeking back to fill in a size
        with open(written, "r+b") as out:
            out.seek(100)
            out.write(b"patched by the writer after part 1 left")

    writer = Writer(path, growing, 12, gate=gate, before_finish=patch_header)
    writer.start()
    result = handle.result(RESULT_TIMEOUT)
    writer.join(10)
    assert writer.error is None
    assert result.sha256 == sha256_file(path) == stored_sha256(uploader, result.upload_id)
    assert faults.part_puts("patched.mp4")[1] == 2  # part 1 went again, with the patched bytes


def test_a_writer_that_gives_up_leaves_no_upload_behind(faults, uploader, make_engine, tmp_path):
    path = tmp_path / "abandoned.mp4"
    growing = GrowingFile(path, poll=0.02)
    engine = make_engine()
    handle = engine.submit_growing(path, growing, upper_bound=64 * MiB)

    def gate(index: int) -> None:
        if index == 11:
            wait_until_sent(engine, handle, 5 * MiB)

    Writer(path, growing, 20, gate=gate, give_up_after=11).start()
    with pytest.raises(UploadError, match="not finished by its writer"):
        handle.result(RESULT_TIMEOUT)
    assert handle.upload_id is not None
    wait_until(lambda: upload_status(uploader, handle.upload_id) == "aborted", timeout=10)
    assert not [key for key in multipart_uploads_left(faults.server) if key.endswith("/abandoned.mp4")]


def test_a_file_that_grows_past_its_declared_bound_fails_clearly_and_is_aborted(
    faults, uploader, make_engine, tmp_path
):
    path = tmp_path / "overrun.mp4"
    growing = GrowingFile(path, poll=0.02)
    engine = make_engine()
    handle = engine.submit_growing(path, growing, upper_bound=10 * MiB)  # two 5 MiB parts at most
    writer = Writer(path, growing, 16)
    writer.start()
    with pytest.raises(UploadError, match=r"overrun\.mp4.*grew past the 10485760 bytes declared"):
        handle.result(RESULT_TIMEOUT)
    writer.join(10)
    wait_until(lambda: upload_status(uploader, handle.upload_id) == "aborted", timeout=10)


def test_an_unfinished_streaming_upload_from_a_crashed_run_is_aborted_when_the_file_is_written_again(
    faults, uploader, make_engine, journal, tmp_path
):
    path = tmp_path / "again.mp4"
    answer = uploader.call(
        "POST",
        "/api/upload/presigned-url",
        json={"filename": "again.mp4", "file_size": 30 * MiB, "content_type": "video/mp4", "streaming": True},
    ).json()
    engine = make_engine()
    journal.start_growing(path, upload_id=answer["upload_id"], s3_key=answer["s3_key"], part_size=5 * MiB,
                          backend=engine._ctx.backend_id)  # fmt: skip
    growing = GrowingFile(path, poll=0.02)
    handle = engine.submit_growing(path, growing, upper_bound=30 * MiB)
    writer = Writer(path, growing, 7)
    writer.start()
    result = handle.result(RESULT_TIMEOUT)
    assert result.upload_id != answer["upload_id"]
    assert upload_status(uploader, answer["upload_id"]) == "aborted"
    assert journal.get(answer["upload_id"]).state is UploadState.ABORTED


def test_a_quit_after_the_writer_finished_resumes_the_upload_instead_of_redoing_it(
    faults, uploader, make_engine, journal, tmp_path
):
    path = tmp_path / "quit.mp4"
    growing = GrowingFile(path, poll=0.02)
    engine = make_engine(bandwidth_limit=6 * MiB, concurrency=2)
    handle = engine.submit_growing(path, growing, upper_bound=64 * MiB)
    writer = Writer(path, growing, 28)
    writer.start()
    writer.join(30)

    def sealed_with_parts_stored() -> bool:
        entry = journal.get(handle.upload_id) if handle.upload_id else None
        return entry is not None and entry.size == 28 * MiB and len(entry.parts) >= 2

    wait_until(sealed_with_parts_stored, timeout=30)
    engine.shutdown()
    with pytest.raises(UploadError, match="interrupted"):
        handle.result(RESULT_TIMEOUT)
    stored = journal.get(handle.upload_id).finished_part_numbers
    assert stored and len(stored) < 6  # the quit came with parts left to send

    result = make_engine().submit(path).result(RESULT_TIMEOUT)  # the next run: an ordinary upload of the file
    assert result.upload_id == handle.upload_id and result.parts_reused == len(stored)
    assert result.sha256 == sha256_file(path) == stored_sha256(uploader, result.upload_id)
    record = uploader.call("GET", f"/api/upload/{result.upload_id}").json()
    assert record["size"] == 28 * MiB and record["part_count"] == 6 and record["streaming"] is True


def test_the_part_being_written_is_already_on_the_wire_and_the_last_one_goes_again_whole(
    faults, uploader, make_engine, tmp_path
):
    """Lead parts: bytes of a part leave while the writer is still inside it; when the writer ends inside a
    part, that part's request (which declared a whole part) is dropped and the real last part is sent."""
    path = tmp_path / "lead.mp4"
    growing = GrowingFile(path, poll=0.02)
    engine = make_engine()
    handle = engine.submit_growing(path, growing, upper_bound=64 * MiB)
    on_the_wire: dict[int, int] = {}

    def gate(index: int) -> None:
        if index == 7:  # part 1 and 2 MiB of part 2 are written
            on_the_wire[index] = wait_until_sent(engine, handle, 6 * MiB)
        if index == 21:  # parts 1-4 and 1 MiB of part 5 are written
            on_the_wire[index] = wait_until_sent(engine, handle, 20 * MiB + 1)

    writer = Writer(path, growing, 23, gate=gate)  # ends 3 MiB into part 5
    writer.start()
    result = handle.result(RESULT_TIMEOUT)
    writer.join(10)
    assert writer.error is None
    assert on_the_wire[7] >= 6 * MiB and on_the_wire[21] > 20 * MiB
    assert result.size == 23 * MiB and result.part_count == 5
    assert result.sha256 == sha256_file(path) == stored_sha256(uploader, result.upload_id)
    puts = faults.part_puts("lead.mp4")
    assert puts[5] == 2 and all(puts[number] == 1 for number in range(1, 5))
    record = uploader.call("GET", f"/api/upload/{result.upload_id}").json()
    assert record["status"] == "uploaded" and record["size"] == 23 * MiB


def test_a_lead_part_corrupted_on_the_way_is_caught_by_its_etag_and_sent_again(faults, uploader, make_engine, tmp_path):
    """A lead part's URL pins no checksum, so S3 stores whatever arrives: the client compares the ETag with
    the MD5 of what it sent, and a mismatch sends the part again, signed with its Content-MD5."""
    path = tmp_path / "flipped.mp4"
    growing = GrowingFile(path, poll=0.02)
    engine = make_engine()
    faults.proxy.flip_byte(1000, match=part_match(2))  # the first PUT of part 2: its lead
    handle = engine.submit_growing(path, growing, upper_bound=64 * MiB)

    def gate(index: int) -> None:
        if index == 7:  # part 2's lead is on the wire before part 2 is written whole
            wait_until_sent(engine, handle, 6 * MiB)

    writer = Writer(path, growing, 13, gate=gate)
    writer.start()
    result = handle.result(RESULT_TIMEOUT)
    writer.join(10)
    assert faults.proxy.fired == {"flip": 1}
    assert faults.part_puts("flipped.mp4")[2] == 2
    assert result.sha256 == sha256_file(path) == stored_sha256(uploader, result.upload_id)
