"""MainThreadInbox: workers' posts run on the GUI thread, in order, and never touch Qt off it."""

from __future__ import annotations

import sys
import threading

import pytest

from app.gui.inbox import DRAIN_BATCH, MainThreadInbox

THREADS = 8
POSTS_EACH = 2_000


def test_posts_from_many_threads_all_run_on_the_gui_thread_in_each_threads_order(qtbot):
    inbox = MainThreadInbox()
    gui_thread = threading.get_ident()
    seen: dict[int, list[int]] = {n: [] for n in range(THREADS)}
    wrong_thread: list[int] = []

    def record(value: tuple[int, int]) -> None:
        if threading.get_ident() != gui_thread:
            wrong_thread.append(value[0])
        seen[value[0]].append(value[1])

    def work(n: int) -> None:
        for i in range(POSTS_EACH):
            inbox.post(record, (n, i))

    workers = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    # Nothing runs until the GUI thread's event loop turns: posting never calls back on the worker.
    qtbot.waitUntil(lambda: sum(map(len, seen.values())) == THREADS * POSTS_EACH, timeout=10_000)
    assert not wrong_thread
    assert all(values == list(range(POSTS_EACH)) for values in seen.values())
    inbox.close()


def test_a_burst_runs_in_batches_so_the_event_loop_keeps_turning(qtbot):
    inbox = MainThreadInbox()
    ran: list[int] = []
    for i in range(DRAIN_BATCH * 3 + 1):
        inbox.post(ran.append, i)
    assert inbox.run_pending() == DRAIN_BATCH  # one turn runs one batch, the rest waits for the next
    qtbot.waitUntil(lambda: len(ran) == DRAIN_BATCH * 3 + 1, timeout=5_000)
    assert ran == list(range(DRAIN_BATCH * 3 + 1))
    inbox.close()


def test_a_failing_callback_reaches_the_excepthook_and_the_rest_still_run(qtbot, monkeypatch: pytest.MonkeyPatch):
    inbox = MainThreadInbox()
    hooked: list[BaseException] = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, error, tb: hooked.append(error))
    ran: list[str] = []

    def fail(value: str) -> None:
        raise RuntimeError(f"broken callback {value}")

    def work() -> None:
        inbox.post(ran.append, "before")
        inbox.post(fail, "x")
        inbox.post(ran.append, "after")

    threading.Thread(target=work).start()
    qtbot.waitUntil(lambda: ran == ["before", "after"], timeout=5_000)
    assert [str(error) for error in hooked] == ["broken callback x"]
    inbox.close()


def test_after_close_posts_are_dropped_quietly(qtbot):
    inbox = MainThreadInbox()
    ran: list[int] = []
    inbox.post(ran.append, 1)
    inbox.close()  # what was queued is dropped too: the owner has cleaned up
    poster = threading.Thread(target=lambda: [inbox.post(ran.append, n) for n in range(100)])
    poster.start()
    poster.join(timeout=10)
    qtbot.wait(50)
    assert inbox.closed and ran == []
