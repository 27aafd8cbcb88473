from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.core.transfer.part_bodies import PartBody
from app.core.transfer.stall import StallDetected, StallWatchdog
from app.core.transfer.throttle import Throttle
from tests.core.transfer.clocks import FakeClock


def test_an_idle_transfer_is_flagged_once_and_the_hook_called():
    clock = FakeClock()
    stalled = []
    watchdog = StallWatchdog(10.0, on_stall=stalled.append, clock=clock)
    busy = watchdog.watch("part 1")
    idle = watchdog.watch("part 2")
    clock.advance(6)
    busy.touch()
    clock.advance(6)
    assert watchdog.check() == ["part 2"]
    assert stalled == ["part 2"]
    assert idle.stalled and not busy.stalled
    with pytest.raises(StallDetected, match="no data moved"):
        idle.raise_if_stalled()
    clock.advance(60)
    assert watchdog.check() == ["part 1"]  # part 2 is not reported twice
    assert stalled == ["part 2", "part 1"]


def test_waiting_on_purpose_and_finished_transfers_are_not_stalls():
    clock = FakeClock()
    watchdog = StallWatchdog(10.0, clock=clock)
    throttled = watchdog.watch("throttled")
    finished = watchdog.watch("finished")
    finished.finish()
    with throttled.suspended():
        clock.advance(100)
        assert watchdog.check() == []
    clock.advance(5)  # leaving the suspended block counts as progress
    assert watchdog.check() == []
    with watchdog.watching("gone") as gone:
        pass
    clock.advance(100)
    assert set(watchdog.check()) == {"throttled"}
    assert not gone.stalled and not finished.stalled


def test_a_body_whose_activity_stalled_raises_at_the_next_block(tmp_path: Path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(bytes(4096))
    clock = FakeClock()
    watchdog = StallWatchdog(5.0, clock=clock)
    activity = watchdog.watch("clip.mp4 part 1")
    body = PartBody(path, 0, 4096, block_size=1024, activity=activity)
    blocks = iter(body)
    next(blocks)
    clock.advance(6)
    watchdog.check()
    with pytest.raises(StallDetected):
        next(blocks)


def test_throttle_waits_inside_a_body_are_not_stalls(tmp_path: Path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(bytes(8192))
    clock = FakeClock()
    watchdog = StallWatchdog(0.5, clock=clock)
    activity = watchdog.watch("slow")
    throttle = Throttle(1024, clock=clock)  # 8 s for this body, far above the 0.5 s stall timeout

    def check_during_wait(condition, timeout):
        clock.time += timeout
        assert watchdog.check() == []

    clock.wait = check_during_wait  # the watchdog looks while the throttle is waiting
    assert len(b"".join(PartBody(path, 0, 8192, block_size=1024, throttle=throttle, activity=activity))) == 8192
    assert not activity.stalled


def test_the_watchdog_thread_reports_and_stops():
    reported = threading.Event()
    with StallWatchdog(0.05, on_stall=lambda key: reported.set(), poll_interval=0.01) as watchdog:
        watchdog.watch("never touched")
        assert reported.wait(10)
    assert watchdog._thread is None


def test_a_failing_hook_does_not_stop_the_watchdog():
    clock = FakeClock()

    def broken(key):
        raise RuntimeError("hook bug")

    watchdog = StallWatchdog(1.0, on_stall=broken, clock=clock)
    watchdog.watch("a")
    clock.advance(2)
    assert watchdog.check() == ["a"]
