from __future__ import annotations

import threading

import pytest

from app.core.transfer.throttle import MAX_WAIT_SLICE, Throttle
from tests.core.transfer.clocks import FakeClock

KiB = 1024
MiB = 1024 * KiB


def test_token_accounting_matches_the_rate_exactly():
    clock = FakeClock()
    throttle = Throttle(MiB, clock=clock)
    start = clock.now()
    for _ in range(160):
        assert throttle.acquire(64 * KiB)
    assert throttle.granted_bytes == 10 * MiB
    assert clock.now() - start == pytest.approx(10.0, abs=1e-6)
    assert throttle.waited_seconds == pytest.approx(10.0, abs=1e-6)
    assert clock.waits and max(clock.waits) <= MAX_WAIT_SLICE  # waits are sliced, none unbounded


def test_blocks_larger_than_the_bucket_never_outrun_the_rate():
    clock = FakeClock()
    throttle = Throttle(100 * KiB, burst_seconds=0.25, clock=clock)
    capacity = throttle.capacity
    start, granted = clock.now(), 0
    for _ in range(5):
        assert throttle.acquire(MiB)
        # Everything granted before this block, plus what this block had to wait for, was earned.
        assert granted + min(MiB, capacity) <= 100 * KiB * (clock.now() - start) + 1e-6
        granted += MiB
    # First block waits for a full bucket, every later one repays the 1 MiB debt of the one before.
    assert clock.now() - start == pytest.approx(capacity / (100 * KiB) + 4 * MiB / (100 * KiB), abs=1e-6)


def test_rate_change_applies_from_that_moment():
    clock = FakeClock()
    throttle = Throttle(MiB, clock=clock)
    start = clock.now()
    for _ in range(5 * 16):
        throttle.acquire(64 * KiB)
    throttle.set_rate(2 * MiB)
    for _ in range(4 * 16):
        throttle.acquire(64 * KiB)
    assert clock.now() - start == pytest.approx(5.0 + 2.0, abs=1e-6)


def test_unlimited_and_back():
    clock = FakeClock()
    throttle = Throttle(None, clock=clock)
    start = clock.now()
    for _ in range(100):
        assert throttle.acquire(MiB)
    assert clock.now() == start and not clock.waits
    throttle.set_rate(0)  # 0 also means unlimited
    assert throttle.rate is None
    throttle.set_rate(MiB)
    # Back from unlimited the bucket starts empty: the limit holds from the first byte.
    for _ in range(16):
        throttle.acquire(64 * KiB)
    assert clock.now() - start == pytest.approx(1.0, abs=1e-6)
    assert throttle.granted_bytes == 101 * MiB


def test_a_set_stop_event_returns_false_without_taking_tokens():
    clock = FakeClock()
    throttle = Throttle(MiB, clock=clock)
    stop = threading.Event()
    stop.set()
    assert throttle.acquire(MiB, stop) is False
    assert throttle.granted_bytes == 0


def test_bad_values_are_refused():
    with pytest.raises(ValueError):
        Throttle(-1)
    with pytest.raises(ValueError):
        Throttle(MiB, burst_seconds=0)
    with pytest.raises(ValueError):
        Throttle(MiB).acquire(-1)


def _start(target) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_lifting_the_limit_wakes_a_thread_waiting_for_hours():
    throttle = Throttle(1)  # 1 byte/s: a 1 MiB block would take 12 days
    results = []
    started = threading.Event()

    def worker():
        started.set()
        results.append(throttle.acquire(MiB))

    thread = _start(worker)
    assert started.wait(5)
    throttle.set_rate(None)
    thread.join(10)
    assert not thread.is_alive()
    assert results == [True]


def test_stop_event_releases_a_waiting_thread():
    throttle = Throttle(1)
    stop = threading.Event()
    results = []
    thread = _start(lambda: results.append(throttle.acquire(MiB, stop)))
    stop.set()
    throttle.wake_all()
    thread.join(10)
    assert not thread.is_alive()
    assert results == [False]
    assert throttle.granted_bytes == 0


def test_many_threads_share_one_limit_while_it_changes():
    throttle = Throttle(64 * MiB)
    done = threading.Event()
    errors = []

    def worker():
        try:
            for _ in range(40):
                assert throttle.acquire(64 * KiB)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [_start(worker) for _ in range(4)]
    rates = [None, 128 * MiB, 32 * MiB, None, 256 * MiB]
    for rate in rates:
        throttle.set_rate(rate)
    throttle.set_rate(None)
    for thread in threads:
        thread.join(30)
    done.set()
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert throttle.granted_bytes == 4 * 40 * 64 * KiB
