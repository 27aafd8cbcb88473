"""run_ffmpeg with an EncodeControl: pause suspends the very process (state "stopped", no progress), resume
lets it go on to a whole output, cancel stops it even while suspended, and paused time is not run time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from app.core.media import EncodeSnapshot, FfmpegTools, MediaCancelled, probe, run_ffmpeg
from app.core.media.progress import EncodeControl, EncodeState
from tests.support.waiting import wait_until

BOUND = 60.0


def wait_for(condition: Callable[[], Any], what: str, timeout: float = BOUND) -> Any:
    return wait_until(condition, timeout, 0.02, what)


def paced_encode(output: Path, seconds: int) -> list[str]:
    # -re reads the generated input at its own rate: the encode lasts about `seconds` on any machine.
    source = ["-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", str(seconds)]
    return [*source, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(output)]


class Run(threading.Thread):
    def __init__(self, args: list[str], duration: float, control: EncodeControl, tools: FfmpegTools, **kw: Any):
        super().__init__(daemon=True)
        self.seen: list[EncodeSnapshot] = []
        self.error: BaseException | None = None
        self._call = lambda: run_ffmpeg(args, duration, self.seen.append, control, tools=tools, **kw)

    def run(self) -> None:
        try:
            self._call()
        except BaseException as error:
            self.error = error


def ffmpeg_child() -> psutil.Process:
    children = [c for c in psutil.Process().children() if c.name().startswith("ffmpeg")]
    assert len(children) == 1, children
    return children[0]


def test_pause_suspends_the_same_process_and_resume_finishes_it(tools: FfmpegTools, tmp_path: Path) -> None:
    output = tmp_path / "paced.mp4"
    control = EncodeControl()
    run = Run(paced_encode(output, 4), 4.0, control, tools)
    run.start()
    wait_for(lambda: run.seen and (run.seen[-1].percent or 0) > 10, "some progress")
    process = ffmpeg_child()

    control.pause()
    assert control.state is EncodeState.PAUSED and not control.is_set()
    wait_for(lambda: process.status() == psutil.STATUS_STOPPED, "ffmpeg to be suspended")
    reported = len(run.seen)
    time.sleep(1.0)
    assert process.status() == psutil.STATUS_STOPPED and len(run.seen) == reported  # stopped means stopped

    control.resume()
    wait_for(lambda: process.status() != psutil.STATUS_STOPPED, "ffmpeg to run again")
    assert ffmpeg_child().pid == process.pid
    run.join(BOUND)
    assert not run.is_alive() and run.error is None
    assert run.seen[-1].done and probe(output, tools=tools).duration_s == pytest.approx(4.0, abs=0.2)


def test_cancel_stops_a_suspended_encode(tools: FfmpegTools, tmp_path: Path) -> None:
    control = EncodeControl()
    run = Run(paced_encode(tmp_path / "never.mp4", 30), 30.0, control, tools)
    run.start()
    wait_for(lambda: run.seen, "some progress")
    process = ffmpeg_child()
    control.pause()
    wait_for(lambda: process.status() == psutil.STATUS_STOPPED, "ffmpeg to be suspended")
    control.cancel()
    control.resume()  # cancel is final: nothing resumes it
    run.join(BOUND)
    assert isinstance(run.error, MediaCancelled)
    assert not process.is_running()


def test_time_spent_paused_does_not_count_against_the_time_limit(tools: FfmpegTools, tmp_path: Path) -> None:
    # A 3 s encode under a 5 s limit, paused for longer than the limit: the limit is about the work.
    output = tmp_path / "limited.mp4"
    control = EncodeControl()
    run = Run(paced_encode(output, 3), 3.0, control, tools, timeout=5.0)
    run.start()
    wait_for(lambda: run.seen, "some progress")
    control.pause()
    process = ffmpeg_child()
    wait_for(lambda: process.status() == psutil.STATUS_STOPPED, "ffmpeg to be suspended")
    time.sleep(5.5)
    control.resume()
    run.join(BOUND)
    assert run.error is None, run.error
    assert output.stat().st_size > 0
