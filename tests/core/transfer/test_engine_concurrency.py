"""The connection budget changes while uploads run: counted at the fault proxy in front of S3 (request
bodies on the wire at once), never inside the engine. The proxy paces every connection, so each part
stays on the wire long enough for the count to mean something."""

from __future__ import annotations

import time

import pytest

from app.core.transfer.handle import UploadStatus
from tests.support.files import random_file
from tests.support.upload_stack import MiB, stored_sha256
from tests.support.waiting import wait_until

RESULT_TIMEOUT = 60
PER_CONNECTION = 4 * MiB  # bytes/s on each connection: a 5 MiB part takes about 1.25 s


def peak_over(faults, seconds: float) -> int:
    """The most bodies in flight at once over the next `seconds`."""
    faults.proxy.take_peak()
    time.sleep(seconds)
    return faults.proxy.take_peak()


def test_raising_and_lowering_concurrency_changes_the_parts_in_flight(faults, uploader, make_engine, tmp_path):
    faults.proxy.set_bandwidth(PER_CONNECTION)
    engine = make_engine(concurrency=2)
    digests = {}
    for name in ("one.mp4", "two.mp4"):
        digests[name] = random_file(tmp_path / name, 40 * MiB)  # eight 5 MiB parts each
    handles = [engine.submit(tmp_path / name) for name in digests]

    wait_until(lambda: faults.proxy.in_flight == 2, timeout=30, what="two parts on the wire")
    assert peak_over(faults, 1.0) == 2

    engine.set_concurrency(6)
    assert engine.concurrency == 6
    wait_until(lambda: faults.proxy.in_flight == 6, timeout=10, what="six parts on the wire")
    assert peak_over(faults, 0.5) == 6

    engine.set_concurrency(1)
    assert engine.concurrency == 1
    # The parts on the wire finish (none is cut off); no new one starts until only one is left.
    wait_until(lambda: engine.connections_in_use <= 1, timeout=10, what="the budget to drain")
    wait_until(lambda: faults.proxy.in_flight <= 1, timeout=5, what="the proxy to see the drain")
    assert peak_over(faults, 2.0) == 1
    assert not any(handle.done() for handle in handles)  # still sending, one part at a time

    engine.set_concurrency(8)
    faults.proxy.set_bandwidth(None)
    for handle in handles:
        result = handle.result(RESULT_TIMEOUT)
        assert result.sha256 == digests[handle.path.name] == stored_sha256(uploader, result.upload_id)
        assert result.parts_reused == 0 and result.part_count == 8
    assert all(count == 1 for count in faults.part_puts("one.mp4").values())  # no part was sent twice


def test_small_files_follow_the_budget_too(faults, make_engine, tmp_path):
    # Each small file is one POST from its own coordinating thread: the files pool must widen as well.
    faults.proxy.set_bandwidth(1 * MiB)
    engine = make_engine(concurrency=1)
    handles = []
    for number in range(6):
        path = tmp_path / f"small-{number}.mp4"
        random_file(path, 3 * MiB)
        handles.append(engine.submit(path))
    wait_until(lambda: faults.proxy.in_flight == 1, timeout=30, what="one POST on the wire")
    assert peak_over(faults, 0.5) == 1

    engine.set_concurrency(4)
    wait_until(lambda: faults.proxy.in_flight == 4, timeout=10, what="four POSTs on the wire")
    assert peak_over(faults, 0.5) == 4

    faults.proxy.set_bandwidth(None)
    assert all(handle.result(RESULT_TIMEOUT).method == "POST" for handle in handles)
    assert all(handle.state is UploadStatus.COMPLETED for handle in handles)


def test_concurrency_out_of_range_is_refused(make_engine):
    engine = make_engine(concurrency=3)
    for bad in (0, engine.max_concurrency + 1):
        with pytest.raises(ValueError):
            engine.set_concurrency(bad)
    assert engine.concurrency == 3
