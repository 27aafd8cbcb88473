from __future__ import annotations

import dataclasses
import threading

import pytest

from app.core.transfer.progress import TransferTracker
from tests.core.transfer.clocks import FakeClock

MiB = 1024 * 1024


def steady_upload(tracker: TransferTracker, clock: FakeClock, file_id: str, seconds: float, step: float):
    part = 1
    for _ in range(round(seconds / step)):
        clock.advance(step)
        tracker.record(file_id, part, MiB)
        part += 1


def test_rate_is_measured_over_the_sliding_window_and_gives_the_eta():
    clock = FakeClock()
    tracker = TransferTracker(window=5.0, clock=clock)
    tracker.add_file("a", 100 * MiB)
    steady_upload(tracker, clock, "a", seconds=4.0, step=0.5)  # 2 MiB/s
    steady_upload(tracker, clock, "a", seconds=6.0, step=0.25)  # then 4 MiB/s
    item = tracker.file_snapshot("a")
    assert item.done == 8 * MiB + 24 * MiB
    # Only the last 5 s count: all at 4 MiB/s, the slower start has left the window.
    assert item.rate == pytest.approx(4 * MiB, rel=1e-9)
    assert item.eta == pytest.approx((100 - 32) / 4, rel=1e-9)
    assert item.fraction == pytest.approx(0.32)


def test_rate_before_the_window_is_full_uses_the_time_since_start():
    clock = FakeClock()
    tracker = TransferTracker(window=5.0, clock=clock)
    tracker.add_file("a", 10 * MiB)
    steady_upload(tracker, clock, "a", seconds=2.0, step=0.5)
    assert tracker.file_snapshot("a").rate == pytest.approx(2 * MiB, rel=1e-9)


def test_rate_drops_to_zero_when_nothing_moves_and_eta_becomes_unknown():
    clock = FakeClock()
    tracker = TransferTracker(window=5.0, clock=clock)
    tracker.add_file("a", 10 * MiB)
    steady_upload(tracker, clock, "a", seconds=2.0, step=0.5)
    clock.advance(5.01)
    item = tracker.file_snapshot("a")
    assert item.rate == 0.0
    assert item.eta is None
    assert item.done == 4 * MiB


def test_a_retried_part_is_rolled_back_but_its_wire_bytes_still_count_for_the_rate():
    clock = FakeClock()
    tracker = TransferTracker(window=5.0, clock=clock)
    tracker.add_file("a", 20 * MiB)
    clock.advance(1.0)
    tracker.record("a", 1, 5 * MiB)
    tracker.commit_part("a", 1, 5 * MiB)
    clock.advance(1.0)
    tracker.record("a", 2, 3 * MiB)  # connection cut after 3 MiB of part 2
    assert tracker.file_snapshot("a").done == 8 * MiB
    assert tracker.rollback_part("a", 2) == 3 * MiB
    item = tracker.file_snapshot("a")
    assert item.done == 5 * MiB  # honest: part 2 is not uploaded
    assert item.rate == pytest.approx(8 * MiB / 2.0)  # 8 MiB did cross the wire in 2 s
    assert item.eta == pytest.approx(15 * MiB / (4 * MiB))
    # Rolling back a committed part does nothing: S3 holds it.
    assert tracker.rollback_part("a", 1) == 0
    assert tracker.file_snapshot("a").done == 5 * MiB


def test_resumed_file_starts_with_its_done_bytes_and_finish_completes_it():
    clock = FakeClock()
    tracker = TransferTracker(clock=clock)
    tracker.add_file("a", 10 * MiB, done=6 * MiB)
    item = tracker.file_snapshot("a")
    assert (item.done, item.fraction, item.rate, item.eta) == (6 * MiB, 0.6, 0.0, None)
    tracker.finish_file("a")
    item = tracker.file_snapshot("a")
    assert (item.done, item.finished, item.eta) == (10 * MiB, True, 0.0)


def test_total_snapshot_sums_files_and_is_immutable():
    clock = FakeClock()
    tracker = TransferTracker(window=5.0, clock=clock)
    tracker.add_file("a", 10 * MiB)
    tracker.add_file("b", 30 * MiB, done=10 * MiB)
    clock.advance(2.0)
    tracker.record("a", 1, 2 * MiB)
    tracker.record("b", 3, 6 * MiB)
    snap = tracker.snapshot()
    assert (snap.done, snap.total) == (18 * MiB, 40 * MiB)
    assert snap.rate == pytest.approx(4 * MiB)
    assert snap.eta == pytest.approx(22 / 4)
    assert snap.file("b").done == 16 * MiB
    assert snap.file("missing") is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.done = 0  # type: ignore[misc]
    # Later updates never change a snapshot already taken.
    tracker.record("a", 2, MiB)
    assert snap.file("a").done == 2 * MiB
    tracker.remove_file("b")
    tracker.record("b", 4, MiB)  # a late block of a removed file is ignored, not an error
    assert [item.file_id for item in tracker.snapshot().files] == ["a"]


def test_bad_totals_are_refused():
    tracker = TransferTracker()
    with pytest.raises(ValueError):
        tracker.add_file("a", 10, done=11)
    with pytest.raises(ValueError):
        TransferTracker(window=0)


def test_concurrent_writers_and_a_reader_agree_on_the_final_count():
    tracker = TransferTracker()
    tracker.add_file("a", 8 * 500 * 1000)
    stop = threading.Event()
    seen = []

    def writer(part: int) -> None:
        for _ in range(500):
            tracker.record("a", part, 1000)

    def reader() -> None:
        while not stop.is_set():
            seen.append(tracker.snapshot().done)
            stop.wait(0.001)

    watcher = threading.Thread(target=reader)
    watcher.start()
    writers = [threading.Thread(target=writer, args=(part,)) for part in range(1, 9)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(30)
    stop.set()
    watcher.join(30)
    assert tracker.snapshot().done == 8 * 500 * 1000
    assert seen == sorted(seen)  # no snapshot ever went backwards without a rollback
