"""The queue's time left (the status bar's): the files started but still queued count, one encode at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.pipeline.model import ItemSnapshot, Stage, queue_time_left, totals_of


def snap(item_id: str, stage: Stage, eta: float | None = None, *, queued: bool = False) -> ItemSnapshot:
    return ItemSnapshot(
        item_id=item_id,
        source=Path(f"/videos/{item_id}.mp4"),
        preset="1080p",
        stage=stage,
        stage_fraction=0.0,
        overall_fraction=0.0,
        size_before=1_000_000,
        size_after=None,
        rate=None,
        eta=eta,
        queued=queued,
    )


def test_queued_files_wait_for_the_encoder_one_after_another():
    items = [
        snap("now", Stage.COMPRESSING, eta=5),
        snap("next", Stage.COMPRESSING, queued=True),
        snap("later", Stage.WAITING, queued=True),
    ]
    # "a few seconds left" was the answer with 5 s for the encode under way and minutes queued behind it.
    assert queue_time_left(items, {"next": 60.0, "later": 90.0}) == 155.0


def test_stages_beside_the_encoder_count_when_they_are_longer():
    items = [
        snap("encoding", Stage.COMPRESSING, eta=20),
        snap("sending", Stage.UPLOADING, eta=300),
        snap("next", Stage.WAITING, queued=True),
    ]
    assert queue_time_left(items, {"next": 40.0}) == 300.0
    assert queue_time_left(items, {"next": 400.0}) == 420.0


def test_unknown_while_a_queued_file_has_no_estimate_yet():
    items = [snap("now", Stage.UPLOADING, eta=4), snap("next", Stage.WAITING, queued=True)]
    assert queue_time_left(items, {}) is None  # not "a few seconds"
    assert totals_of(items).eta is None
    assert totals_of(items, {"next": 30.0}).eta == 30.0


@pytest.mark.parametrize(
    "items",
    [
        [],
        [snap("done", Stage.DONE), snap("failed", Stage.FAILED)],
        [snap("not started", Stage.WAITING)],  # not started by the user: no work is planned for it
        [snap("unknown", Stage.PROCESSING, eta=None)],
    ],
)
def test_nothing_to_say_when_nothing_runs_or_nothing_is_known(items):
    assert queue_time_left(items, {"not started": 50.0}) is None


def test_files_not_started_do_not_count():
    items = [snap("now", Stage.UPLOADING, eta=12), snap("someday", Stage.WAITING)]
    assert queue_time_left(items, {"someday": 500.0}) == 12.0
