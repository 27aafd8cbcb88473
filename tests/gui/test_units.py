"""Human units: what the creator reads in the queue and the status bar."""

from __future__ import annotations

import pytest

from app.gui import units


@pytest.mark.parametrize(
    ("count", "text"),
    [(None, "—"), (0, "0 B"), (999, "999 B"), (1000, "1.00 KB"), (35_400_000, "35.4 MB"), (812_000, "812 KB"),
     (1_234_000_000, "1.23 GB"), (5 * 10**15, "5000 TB")],
)  # fmt: skip
def test_human_bytes(count, text):
    assert units.human_bytes(count) == text


def test_rates_and_times_read_like_speech():
    assert units.human_rate(4_200_000) == "4.20 MB/s"
    assert units.human_rate(None) == ""
    assert units.human_rate(0) == ""
    assert units.time_left(3) == "a few seconds left"
    assert units.time_left(45) == "45 s left"
    assert units.time_left(181) == "3 min left"
    assert units.time_left(3600 + 20 * 60) == "1 h 20 min left"
    assert units.time_left(7200) == "2 h left"
    assert units.time_left(5 * 86400) == "5 days left"
    assert units.time_left(None) == ""
    assert units.time_left(float("inf")) == ""


def test_size_change_and_percent():
    assert units.size_change(120_000_000, 35_000_000) == "120 MB → 35.0 MB"
    assert units.size_change(120_000_000, 35_000_000, after_is_estimate=True) == "120 MB → ~35.0 MB"
    assert units.size_change(120_000_000, None) == "120 MB"
    assert units.size_change(None, None) == ""
    assert units.percent(0.999) == "99%"  # never "100%" before it is
    assert units.percent(1.0) == "100%"
    assert units.percent(-0.2) == "0%"
    assert units.count_of(1, "file") == "1 file"
    assert units.count_of(3, "file") == "3 files"
