"""The gated pool: a limit that changes while tasks wait, first come first served, and a clean shutdown."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError

import pytest

from app.core.gated_pool import GatedPool
from tests.support.waiting import wait_until

TIMEOUT = 5.0


class Tasks:
    """Tasks that report when they start and run until released one by one."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self._lock = threading.Lock()
        self._release: dict[int, threading.Event] = {}

    def task(self, number: int) -> int:
        with self._lock:
            self.started.append(number)
            event = self._release.setdefault(number, threading.Event())
        assert event.wait(TIMEOUT), f"task {number} was never released"
        return number

    def release(self, *numbers: int) -> None:
        for number in numbers:
            with self._lock:
                self._release.setdefault(number, threading.Event()).set()


def test_raising_the_limit_starts_waiting_tasks_in_order_and_lowering_lets_running_ones_finish():
    tasks, pool = Tasks(), GatedPool(2, most=8, thread_name_prefix="test-gated")
    try:
        # Submitted one by one, each once the previous one reached the gate: the gate's order is then theirs.
        futures = []
        for number in range(8):
            futures.append(pool.submit(tasks.task, number))
            arrived = (lambda n=number: n in tasks.started) if number < 2 else (lambda n=number: pool.waiting == n - 1)
            wait_until(arrived, timeout=TIMEOUT)
        assert tasks.started == [0, 1]
        pool.set_limit(5)
        # Slots go to 2, 3 and 4 at once (not 5: it came later); their threads may wake in any order.
        wait_until(lambda: sorted(tasks.started) == [0, 1, 2, 3, 4], timeout=TIMEOUT)
        assert pool.running == 5

        pool.set_limit(1)
        tasks.release(0, 1, 2)  # five were running; after three finish, two still run: above the limit
        wait_until(lambda: pool.running == 2, timeout=TIMEOUT)
        assert len(tasks.started) == 5
        tasks.release(3)
        wait_until(lambda: pool.running == 1, timeout=TIMEOUT)
        tasks.release(4)
        wait_until(lambda: tasks.started[5:] == [5], timeout=TIMEOUT)  # one at a time now, in order
        assert pool.running == 1
        tasks.release(5, 6, 7)
        assert [f.result(TIMEOUT) for f in futures] == list(range(8))
        assert tasks.started[5:] == [5, 6, 7]
    finally:
        tasks.release(*range(8))
        pool.shutdown()


def test_tasks_start_in_the_order_they_were_submitted_on_no_more_threads_than_the_limit():
    tasks, pool = Tasks(), GatedPool(2, most=8, thread_name_prefix="test-order")
    try:
        futures = [pool.submit(tasks.task, number) for number in range(6)]
        wait_until(lambda: tasks.started == [0, 1], timeout=TIMEOUT)
        for number in range(6):
            tasks.release(number)
            if number < 5:
                wait_until(lambda n=number: len(tasks.started) >= min(6, n + 3), timeout=TIMEOUT)
            workers = [t for t in threading.enumerate() if t.name.startswith("test-order")]
            assert len(workers) <= 2  # a wide pool's extra threads would each keep a malloc arena
        assert [f.result(TIMEOUT) for f in futures] == list(range(6))
        assert tasks.started == list(range(6))
    finally:
        tasks.release(*range(6))
        pool.shutdown()


def test_a_lowered_limit_ends_the_surplus_threads():
    tasks, pool = Tasks(), GatedPool(4, most=8, thread_name_prefix="test-shrink")
    try:
        futures = [pool.submit(tasks.task, number) for number in range(4)]
        wait_until(lambda: pool.running == 4, timeout=TIMEOUT)
        pool.set_limit(1)
        tasks.release(0, 1, 2, 3)
        assert [f.result(TIMEOUT) for f in futures] == [0, 1, 2, 3]
        wait_until(
            lambda: len([t for t in threading.enumerate() if t.name.startswith("test-shrink")]) <= 1, timeout=TIMEOUT
        )
    finally:
        tasks.release(*range(4))
        pool.shutdown()


def test_shutdown_with_cancel_turns_waiting_tasks_away():
    tasks, pool = Tasks(), GatedPool(1, most=4, thread_name_prefix="test-gated")
    running = pool.submit(tasks.task, 0)
    waiting = pool.submit(tasks.task, 1)
    wait_until(lambda: tasks.started == [0], timeout=TIMEOUT)
    closer = threading.Thread(target=pool.shutdown, kwargs={"cancel_futures": True})
    closer.start()
    with pytest.raises(CancelledError):
        waiting.result(TIMEOUT)
    tasks.release(0)
    closer.join(TIMEOUT)
    assert running.result(TIMEOUT) == 0 and tasks.started == [0]


@pytest.mark.parametrize("limit", [0, 5])
def test_a_limit_outside_the_pool_is_refused(limit):
    pool = GatedPool(2, most=4, thread_name_prefix="test-gated")
    try:
        with pytest.raises(ValueError):
            pool.set_limit(limit)
        assert pool.limit == 2
    finally:
        pool.shutdown()
