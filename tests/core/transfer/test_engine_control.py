"""The engine's controls and bookkeeping against the real backend: pause/resume, a bandwidth limit changed
while running, bad input in a batch, interrupt + resume, a changed file, an expired POST policy, and the
planning limits (RELIABILITY.md 2, 8 in-process; the CLI tests do the SIGKILL)."""

from __future__ import annotations

import os
import time

import pytest

from app.core.source_file import check_source
from app.core.transfer.handle import UploadError, UploadStatus
from app.core.transfer.journal import UploadState
from app.core.transfer.planning import MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, TiB, split
from app.server.upload_rules import choose_part_size
from tests.support.faultproxy import EXPIRED_XML
from tests.support.files import random_file, sha256_of
from tests.support.upload_stack import MiB, stored_sha256, upload_status
from tests.support.waiting import wait_until

RESULT_TIMEOUT = 60


def test_pause_stops_sending_and_resume_sends_only_what_is_missing(faults, uploader, make_engine, tmp_path):
    path = tmp_path / "pause.mp4"
    digest = random_file(path, 25 * MiB)  # five whole parts: stored progress is a multiple of 5 MiB
    engine = make_engine(bandwidth_limit=8 * MiB, concurrency=2)
    handle = engine.submit(path)
    wait_until(lambda: engine.snapshot().file(handle.file_id).done >= 6 * MiB, timeout=30)
    handle.pause()
    assert handle.state is UploadStatus.PAUSED
    # Parts in flight stop at their next piece and roll back: what is left is whole stored parts.
    wait_until(lambda: engine.snapshot().file(handle.file_id).done % (5 * MiB) == 0, timeout=30)
    before = engine.snapshot().file(handle.file_id).done
    requests_before = len(faults.proxy.requests)
    time.sleep(1.0)
    assert engine.snapshot().file(handle.file_id).done == before  # nothing moves while paused
    assert len(faults.proxy.requests) == requests_before
    assert not handle.done()
    handle.resume()
    result = handle.result(RESULT_TIMEOUT)
    assert result.sha256 == digest == stored_sha256(uploader, result.upload_id)
    puts = faults.part_puts("pause.mp4")
    assert set(puts) == {1, 2, 3, 4, 5} and max(puts.values()) <= 2  # only interrupted parts went twice


def test_the_bandwidth_limit_changes_while_running(faults, make_engine, tmp_path):
    path = tmp_path / "limit.mp4"
    random_file(path, 16 * MiB)
    engine = make_engine(bandwidth_limit=4 * MiB)
    handle = engine.submit(path)
    wait_until(lambda: engine.throttle.granted_bytes >= 2 * MiB, timeout=30)
    assert engine.throttle.rate == 4 * MiB
    engine.set_bandwidth_limit(2 * MiB)
    assert engine.throttle.rate == 2 * MiB
    waited_limited = engine.throttle.waited_seconds
    engine.set_bandwidth_limit(None)
    assert engine.throttle.rate is None
    result = handle.result(RESULT_TIMEOUT)
    assert waited_limited > 0  # the limit held bytes back while it was set
    assert engine.throttle.granted_bytes == result.bytes_sent  # every byte sent went through the limit
    assert engine.snapshot().file(handle.file_id).finished


def test_bad_files_in_a_batch_fail_alone_with_clear_messages(faults, uploader, make_engine, tmp_path):
    good = tmp_path / "good.mp4"
    digest = random_file(good, 3 * MiB)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    missing = tmp_path / "missing.mp4"
    engine = make_engine()
    handles = {p.name: engine.submit(p) for p in (empty, folder, missing, text, good)}
    assert handles["good.mp4"].result(RESULT_TIMEOUT).sha256 == digest
    expected = {
        "empty.mp4": "empty",
        "folder.mp4": "folder",
        "missing.mp4": "does not exist",
        "notes.txt": "not accepted",
    }
    for name, cause in expected.items():
        with pytest.raises(UploadError) as failed:
            handles[name].result(RESULT_TIMEOUT)
        assert name in str(failed.value) and cause in str(failed.value)
        assert handles[name].state is UploadStatus.FAILED


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_is_refused_with_its_name(make_engine, tmp_path):
    locked = tmp_path / "locked.mp4"
    random_file(locked, 1024)
    locked.chmod(0)
    handle = make_engine().submit(locked)
    assert handle.done() and "locked.mp4" in handle.error and "cannot be read" in handle.error


def test_interrupted_upload_resumes_and_a_changed_file_starts_fresh(faults, uploader, make_engine, journal, tmp_path):
    path = tmp_path / "resume.mp4"
    random_file(path, 26 * MiB)
    first = make_engine(bandwidth_limit=10 * MiB, concurrency=2)
    handle = first.submit(path)
    wait_until(lambda: handle.upload_id and len(journal.get(handle.upload_id).parts) >= 2, timeout=30)
    first.shutdown()
    old = journal.get(handle.upload_id)
    assert old.state is UploadState.UPLOADING and handle.state is UploadStatus.INTERRUPTED
    # The file is rewritten in place (same size) before the next run: the old parts are not its parts.
    with path.open("r+b") as rewrite:
        rewrite.seek(3 * MiB)
        rewrite.write(os.urandom(4096))
    os.utime(path, ns=(time.time_ns(), old.mtime_ns + 1_000_000))
    digest = sha256_of(path)
    result = make_engine().submit(path).result(RESULT_TIMEOUT)
    assert result.upload_id != old.upload_id and result.parts_reused == 0
    assert upload_status(uploader, old.upload_id) == "aborted"
    assert journal.get(old.upload_id).state is UploadState.ABORTED
    assert stored_sha256(uploader, result.upload_id) == digest


def test_an_edit_the_fingerprint_cannot_see_is_caught_by_the_part_checksums(
    faults, uploader, make_engine, journal, tmp_path
):
    path = tmp_path / "sneaky.mp4"
    random_file(path, 21 * MiB)
    first = make_engine(bandwidth_limit=10 * MiB, concurrency=1)
    handle = first.submit(path)
    wait_until(lambda: handle.upload_id and 1 in journal.get(handle.upload_id).finished_part_numbers, timeout=30)
    first.shutdown()
    old = journal.get(handle.upload_id)
    stat = path.stat()
    with path.open("r+b") as rewrite:  # inside part 1, away from the sampled head/middle/tail blocks
        rewrite.seek(2 * MiB)
        rewrite.write(os.urandom(4096))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime: it looks unchanged
    assert old.matches(path)
    digest = sha256_of(path)
    result = make_engine().submit(path).result(RESULT_TIMEOUT)
    assert result.upload_id != old.upload_id and result.parts_reused == 0
    assert upload_status(uploader, old.upload_id) == "aborted"
    assert stored_sha256(uploader, result.upload_id) == digest


def test_an_expired_post_policy_gets_a_new_upload_and_the_old_one_is_dropped(faults, uploader, make_engine, tmp_path):
    path = tmp_path / "small.mp4"
    digest = random_file(path, 2 * MiB)
    faults.proxy.respond(403, EXPIRED_XML, match=b"POST /")
    handle = make_engine().submit(path)
    result = handle.result(RESULT_TIMEOUT)
    assert faults.proxy.fired == {"respond 403": 1}
    assert result.method == "POST" and result.sha256 == digest
    assert stored_sha256(uploader, result.upload_id) == digest
    posts = [r for r in faults.proxy.requests if r.method == "POST" and "uploads" not in r.target]
    assert len(posts) == 2


def test_the_same_file_twice_is_one_upload(faults, make_engine, tmp_path):
    path = tmp_path / "twice.mp4"
    random_file(path, 12 * MiB)
    engine = make_engine(bandwidth_limit=20 * MiB)
    first, second = engine.submit(path), engine.submit(tmp_path / "." / "twice.mp4")
    assert first is second
    first.result(RESULT_TIMEOUT)


def test_a_five_tib_sparse_file_plans_within_s3_limits(tmp_path):
    sparse = tmp_path / "huge.mp4"
    try:
        with sparse.open("wb") as handle:
            handle.truncate(5 * TiB)
    except OSError as error:
        pytest.skip(f"this file system cannot hold a 5 TiB sparse file: {error}")
    source = check_source(sparse)
    assert source.ok and source.size == 5 * TiB
    size = source.size
    plan = split(size, choose_part_size(size))  # the server picks the part size; the client lays it out
    assert plan.part_count <= MAX_PARTS
    assert all(MIN_PART_SIZE <= part.length <= MAX_PART_SIZE for part in plan.parts[:-1])
    assert 0 < plan.parts[-1].length <= MAX_PART_SIZE and plan.parts[-1].end == size
    with sparse.open("r+b") as handle:
        handle.truncate(5 * TiB + 1)
    assert "5 TiB" in check_source(sparse).cause


def test_a_run_killed_after_complete_but_before_the_journal_knew_is_not_sent_again(
    faults, make_engine, journal, tmp_path
):
    path = tmp_path / "done.mp4"
    digest = random_file(path, 11 * MiB)
    first = make_engine().submit(path).result(RESULT_TIMEOUT)
    # The process died between the server's "completed" and the journal write:
    journal._db.execute("UPDATE uploads SET state = 'uploading' WHERE upload_id = ?", (first.upload_id,))
    faults.reset()
    again = make_engine().submit(path).result(RESULT_TIMEOUT)
    assert (again.upload_id, again.sha256, again.bytes_sent) == (first.upload_id, digest, 0)
    assert again.parts_reused == again.part_count == 3 and again.method == "MULTIPART"
    assert faults.part_puts("done.mp4") == {}
    assert journal.get(first.upload_id).state is UploadState.COMPLETED
