"""The terminal progress bar of `reeldrop upload`: bytes, rate and ETA from the engine's snapshots.

tqdm draws; the numbers are the engine's own (honest progress that steps back when a part is retried,
rate over a sliding window, ETA from it), polled by the main thread, never pushed from upload threads.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from tqdm import tqdm

from app.commands.common import human_bytes
from app.core.transfer.progress import TransferSnapshot


def _terminal_columns(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 0


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


class ProgressBar:
    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self._bar: tqdm | None = None
        if enabled:
            stream = stream or sys.stderr
            sized = _terminal_columns(stream) > 0
            self._bar = tqdm(
                total=0,
                file=stream,
                bar_format="{l_bar}{bar}|",
                # A terminal that reports no size (some ptys, CI) would get a zero-width bar.
                dynamic_ncols=sized,
                ncols=None if sized else 100,
                nrows=None if sized else 24,
                leave=False,
            )

    def update(self, snapshot: TransferSnapshot, files_done: int, files_total: int) -> None:
        if self._bar is None:
            return
        self._bar.total = max(snapshot.total, 1)
        self._bar.n = min(snapshot.done, self._bar.total)
        self._bar.set_description_str(f"{files_done}/{files_total} files", refresh=False)
        numbers = (
            f"{human_bytes(snapshot.done)} / {human_bytes(snapshot.total)}, "
            f"{human_bytes(snapshot.rate)}/s, ETA {_eta(snapshot.eta)}"
        )
        # Our own numbers go into the format itself (tqdm's postfix would prefix a comma).
        self._bar.bar_format = "{l_bar}{bar}| " + numbers.replace("{", "{{").replace("}", "}}")
        self._bar.refresh()

    def write(self, line: str, stream: TextIO) -> None:
        """Print a line above the bar (or plainly when there is none)."""
        if self._bar is None:
            print(line, file=stream, flush=True)
        else:
            self._bar.write(line, file=stream)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
