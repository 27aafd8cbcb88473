from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from app.core.transfer.journal import FINGERPRINT_BLOCK, Journal, JournalError, UploadState, fingerprint

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(os.urandom(4 * FINGERPRINT_BLOCK + 123))
    return path


@pytest.fixture
def journal(tmp_path: Path):
    with Journal.open(tmp_path / "state" / "journal.sqlite3") as opened:
        yield opened


def test_an_upload_and_its_parts_survive_reopening(tmp_path: Path, video: Path):
    db = tmp_path / "journal.sqlite3"
    with Journal.open(db) as journal:
        entry = journal.start(video, upload_id="u1", s3_key="temp/alice/u1/clip.mp4", part_size=5 << 20)
        assert entry.state is UploadState.UPLOADING
        assert (entry.size, entry.mtime_ns) == (video.stat().st_size, video.stat().st_mtime_ns)
        journal.record_part("u1", 2, etag='"bb"', size=100, checksum="md5:Ag==")
        journal.record_part("u1", 1, etag='"aa"', size=200, checksum="md5:AQ==")
    with Journal.open(db) as journal:
        entry = journal.find(video)
        assert entry is not None and entry.upload_id == "u1"
        assert [(p.number, p.etag, p.size, p.checksum) for p in entry.parts] == [
            (1, '"aa"', 200, "md5:AQ=="),
            (2, '"bb"', 100, "md5:Ag=="),
        ]
        assert entry.finished_part_numbers == {1, 2}
        assert entry.bytes_done == 300
        assert entry.part(2).etag == '"bb"' and entry.part(3) is None
        assert entry.matches()
    mode = sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_find_returns_the_newest_entry_and_filters_by_state(journal: Journal, video: Path):
    journal.start(video, upload_id="old", s3_key="k1", part_size=5 << 20)
    journal.mark_aborted("old")
    journal.start(video, upload_id="new", s3_key="k2", part_size=5 << 20)
    assert journal.find(video).upload_id == "new"
    assert journal.find(video, state=UploadState.ABORTED).upload_id == "old"
    assert journal.find(video, state=UploadState.COMPLETED) is None
    assert journal.find(video.parent / "other.mp4") is None
    assert [entry.upload_id for entry in journal.list()] == ["new", "old"]
    assert [entry.upload_id for entry in journal.list(state=UploadState.UPLOADING)] == ["new"]


def test_paths_are_matched_after_resolving_relative_paths_and_symlinks(journal: Journal, video: Path):
    journal.start(video, upload_id="u1", s3_key="k", part_size=5 << 20)
    link = video.parent / "link.mp4"
    link.symlink_to(video)
    assert journal.find(link).upload_id == "u1"
    relative = os.path.relpath(video)
    assert journal.find(relative).upload_id == "u1"


def test_states_errors_and_checksums_are_recorded(journal: Journal, video: Path):
    journal.start(video, upload_id="done", s3_key="k", part_size=5 << 20)
    journal.mark_completed("done", sha256="ab" * 32)
    entry = journal.get("done")
    assert (entry.state, entry.sha256) == (UploadState.COMPLETED, "ab" * 32)
    with pytest.raises(JournalError, match="completed"):
        journal.record_part("done", 1, etag="e", size=1, checksum="c")
    journal.start(video, upload_id="bad", s3_key="k", part_size=5 << 20)
    journal.mark_failed("bad", "clip.mp4: the storage service refused the request (HTTP 403)")
    assert journal.get("bad").error.startswith("clip.mp4")
    with pytest.raises(JournalError, match="not in the journal"):
        journal.record_part("missing", 1, etag="e", size=1, checksum="c")
    with pytest.raises(JournalError, match="already"):
        journal.start(video, upload_id="bad", s3_key="k", part_size=5 << 20)


def test_forget_delete_and_prune(journal: Journal, video: Path):
    clock = iter(range(100, 200))
    journal._now = lambda: float(next(clock))
    journal.start(video, upload_id="a", s3_key="k", part_size=5 << 20)
    for number in (1, 2, 3):
        journal.record_part("a", number, etag=f"e{number}", size=10, checksum="c")
    journal.forget_parts("a", {2, 3})
    assert journal.get("a").finished_part_numbers == {1}
    journal.mark_completed("a")
    journal.start(video, upload_id="b", s3_key="k", part_size=5 << 20)  # still uploading: kept
    assert journal.prune(older_than=1000.0) == 1
    assert [entry.upload_id for entry in journal.list()] == ["b"]
    journal.delete("b")
    assert journal.list() == []


def test_matches_detects_a_changed_file(journal: Journal, video: Path):
    entry = journal.start(video, upload_id="u1", s3_key="k", part_size=5 << 20)
    stat = video.stat()
    assert entry.matches(video)

    # Same size, same mtime, different middle: only the fingerprint can tell.
    data = bytearray(video.read_bytes())
    data[len(data) // 2] ^= 0xFF
    video.write_bytes(bytes(data))
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert not entry.matches(video)

    data[len(data) // 2] ^= 0xFF
    video.write_bytes(bytes(data))
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert entry.matches(video)

    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # touched
    assert not entry.matches(video)
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with video.open("ab") as handle:
        handle.write(b"x")
    assert not entry.matches(video)
    video.unlink()
    assert not entry.matches()


def test_fingerprint_samples_large_files_and_hashes_small_ones_whole(tmp_path: Path):
    small = tmp_path / "small"
    small.write_bytes(b"a" * 1000)
    other = tmp_path / "other"
    other.write_bytes(b"a" * 999 + b"b")
    assert fingerprint(small) != fingerprint(other)
    big = tmp_path / "big"
    big.write_bytes(bytes(10 * FINGERPRINT_BLOCK))
    copy = tmp_path / "copy"
    copy.write_bytes(big.read_bytes())
    assert fingerprint(big) == fingerprint(copy)
    data = bytearray(big.read_bytes())
    data[2 * FINGERPRINT_BLOCK] = 1  # between the sampled blocks: sampling does not see it...
    copy.write_bytes(bytes(data))
    assert fingerprint(big) == fingerprint(copy)  # ...which is why the engine re-checks part checksums
    data[-1] = 1
    copy.write_bytes(bytes(data))
    assert fingerprint(big) != fingerprint(copy)


def test_many_threads_record_parts_at_once(journal: Journal, video: Path):
    journal.start(video, upload_id="u1", s3_key="k", part_size=5 << 20)
    errors = []

    def worker(first: int) -> None:
        try:
            for number in range(first, first + 25):
                journal.record_part("u1", number, etag=f"e{number}", size=number, checksum="c")
                journal.find(video)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(1 + 25 * index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert journal.get("u1").finished_part_numbers == set(range(1, 201))


def test_parts_recorded_before_sigkill_are_all_there(tmp_path: Path, video: Path):
    db = tmp_path / "journal.sqlite3"
    child = textwrap.dedent(
        f"""
        import sys
        from app.core.transfer.journal import Journal
        journal = Journal.open({str(db)!r})
        journal.start({str(video)!r}, upload_id="u1", s3_key="k", part_size=5 << 20)
        for number in range(1, 10_001):
            journal.record_part("u1", number, etag=f"etag-{{number}}", size=5 << 20, checksum="md5:x")
            print(number, flush=True)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True, env=env)
    acknowledged = 0
    try:
        for line in process.stdout:
            acknowledged = int(line)
            if acknowledged >= 20:
                break
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(30)
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    assert acknowledged >= 20
    with Journal.open(db) as journal:
        numbers = journal.get("u1").finished_part_numbers
        # Every part the child was told is recorded survived; nothing is half-written.
        assert set(range(1, acknowledged + 1)) <= numbers
        assert numbers == set(range(1, max(numbers) + 1))
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
