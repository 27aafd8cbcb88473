"""Numbers as a creator reads them: "35.4 MB", "4.2 MB/s", "3 min left". No Qt here, so it is easy to test.

Sizes use decimal units (1 MB = 1,000,000 bytes), like the Finder, GNOME Files and camera makers do; the
same unit is used for speeds so that "120 MB at 4 MB/s" divides in one's head.
"""

from __future__ import annotations

import math

_SIZE_UNITS = ("KB", "MB", "GB", "TB")


def human_bytes(count: int | float | None) -> str:
    """ "812 B", "35.4 MB", "1.23 GB"; an em dash when unknown."""
    if count is None or count < 0 or math.isnan(count):
        return "—"
    if count < 1000:
        return f"{int(count)} B"
    value = float(count)
    for unit in _SIZE_UNITS:
        value /= 1000
        if value < 1000 or unit == _SIZE_UNITS[-1]:
            # three significant figures: 1.23 GB, 35.4 MB, 812 KB
            digits = 2 if value < 10 else 1 if value < 100 else 0
            return f"{value:.{digits}f} {unit}"
    raise AssertionError("unreachable")


def human_rate(bytes_per_second: float | None) -> str:
    """ "4.2 MB/s"; empty when there is no speed to show."""
    if not bytes_per_second or bytes_per_second <= 0 or math.isnan(bytes_per_second):
        return ""
    return f"{human_bytes(bytes_per_second)}/s"


def human_duration(seconds: float | None) -> str:
    """ "45 s", "3 min", "1 h 20 min", "2 days"; rounded the way a person would say it."""
    if seconds is None or seconds < 0 or math.isnan(seconds) or math.isinf(seconds):
        return ""
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{round(hours / 24)} days"


def time_left(seconds: float | None) -> str:
    """ "3 min left", "a few seconds left", or "" when unknown."""
    if seconds is None or seconds < 0 or math.isnan(seconds) or math.isinf(seconds):
        return ""
    if seconds < 10:
        return "a few seconds left"
    return f"{human_duration(seconds)} left"


def size_change(before: int | None, after: int | None, *, after_is_estimate: bool = False) -> str:
    """ "120 MB → 35.0 MB" (or "→ ~35.0 MB" for an estimate); just the size before when after is unknown."""
    if before is None and after is None:
        return ""
    if after is None:
        return human_bytes(before)
    approx = "~" if after_is_estimate else ""
    return f"{human_bytes(before)} → {approx}{human_bytes(after)}"


def percent(fraction: float | None) -> str:
    if fraction is None or math.isnan(fraction):
        return ""
    return f"{math.floor(max(0.0, min(1.0, fraction)) * 100)}%"


def count_of(n: int, noun: str, plural: str | None = None) -> str:
    """ "1 file", "3 files"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
