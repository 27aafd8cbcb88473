"""Run one ffmpeg command with progress, cancel and an optional time limit.

Shared by desktop compression and the server worker (renditions, clips, thumbnails, audio): the caller
builds the arguments, ``run_ffmpeg`` adds the fixed prefix (``-progress pipe:1`` and friends), reads the
progress blocks on the calling thread (so ``on_progress`` runs there) and kills ffmpeg when the cancel
token is set or the time limit passes. An ``EncodeControl`` as the token also pauses: the process is
suspended (SIGSTOP, or NtSuspendProcess on Windows, through psutil) and resumed where it stopped, and the
time limit does not run while it is paused. It does not touch output files: pair it with ``atomic_output``.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

from app.core.child_lifetime import popen_ending_with_this_process
from app.core.media.errors import FfmpegFailed, FfmpegNotFound, FfmpegTimeout, MediaCancelled
from app.core.media.ffmpeg import FfmpegTools, find_ffmpeg
from app.core.media.limits import ResourceLimits
from app.core.media.progress import CancelToken, EncodeControl, EncodeSnapshot, EncodeState, FfmpegProgressParser

log = logging.getLogger(__name__)

# -nostdin: ffmpeg must never wait on a terminal; -y: the caller owns the output path (a temp file).
FFMPEG_PREFIX = ("-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-progress", "pipe:1", "-nostats")
_WATCH_INTERVAL_S = 0.1
_STDERR_LINES_KEPT = 40

ProgressCallback = Callable[[EncodeSnapshot], None]


@dataclass(frozen=True)
class FfmpegRun:
    argv: tuple[str, ...]
    seconds: float
    last_progress: EncodeSnapshot
    stderr_tail: str


def ffmpeg_argv(args: Sequence[str], tools: FfmpegTools | None = None) -> list[str]:
    """The exact command ``run_ffmpeg(args, ...)`` runs (to show it, log it or run it by hand)."""
    tools = tools or find_ffmpeg()
    return [tools.ffmpeg, *FFMPEG_PREFIX, *args]


def run_ffmpeg(
    args: Sequence[str],
    duration: float | None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    *,
    tools: FfmpegTools | None = None,
    timeout: float | None = None,
    subject: Path | str | None = None,
    limits: ResourceLimits | None = None,
) -> FfmpegRun:
    """Run ffmpeg with ``args`` (everything after the binary and the fixed prefix).

    ``limits``: the process's address space and CPU time (limits.py); a server's worker sets them.

    ``duration`` is the expected output duration in seconds (for percent/ETA; None = unknown).
    ``subject`` is the file named in error messages. Raises ``MediaCancelled``, ``FfmpegTimeout`` or
    ``FfmpegFailed`` (with ffmpeg's stderr tail in ``detail``).
    """
    argv = ffmpeg_argv(args, tools)
    if cancel is not None and cancel.is_set():
        raise MediaCancelled("cancelled before ffmpeg started", subject)
    parser = FfmpegProgressParser(duration)
    stderr_tail: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES_KEPT)
    finished = threading.Event()
    stop_reason: list[str] = []
    started = time.monotonic()
    log.debug("running %s", argv)
    try:
        process = popen_ending_with_this_process(  # a crash or kill -9 of ours must not leave it encoding
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            creationflags=_NO_WINDOW | _BELOW_NORMAL,
            rlimits=limits.rlimits() if limits is not None else (),
        )
    except OSError as exc:
        raise FfmpegNotFound(f"cannot start {argv[0]}: {exc}") from exc
    _lower_priority(process.pid)
    helpers = [threading.Thread(target=_drain, args=(process.stderr, stderr_tail), daemon=True)]
    if cancel is not None or timeout is not None:
        helpers.append(
            threading.Thread(target=_watch, args=(process, finished, cancel, timeout, stop_reason), daemon=True)
        )
    for helper in helpers:
        helper.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            snapshot = parser.feed(line)
            if snapshot is not None and on_progress is not None and not stop_reason:
                on_progress(snapshot)
        process.wait()
    finally:
        if process.poll() is None:  # the callback raised, or we are being torn down: never leak ffmpeg
            process.kill()
            process.wait()
        finished.set()
        for helper in helpers:
            helper.join(timeout=5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    elapsed = time.monotonic() - started
    stderr_text = "\n".join(stderr_tail)
    if stop_reason and stop_reason[0] == "cancelled":
        raise MediaCancelled("cancelled; ffmpeg was stopped", subject)
    if stop_reason and stop_reason[0] == "timeout":
        raise FfmpegTimeout(f"ffmpeg took longer than {timeout:g} s and was stopped", subject)
    if process.returncode != 0:
        last_line = stderr_tail[-1] if stderr_tail else f"exit code {process.returncode}"
        raise FfmpegFailed(f"ffmpeg failed: {last_line}", subject, detail=stderr_text)
    last = parser.finished()
    if on_progress is not None:
        on_progress(last)
    return FfmpegRun(tuple(argv), elapsed, last, stderr_text)


def _drain(stream: IO[str] | None, tail: collections.deque[str]) -> None:
    # ffmpeg blocks when its stderr pipe fills up, so it must always be read.
    if stream is None:
        return
    for line in stream:
        if line.strip():
            tail.append(line.rstrip())


def _watch(
    process: subprocess.Popen[str],
    finished: threading.Event,
    cancel: CancelToken | None,
    timeout: float | None,
    stop_reason: list[str],
) -> None:
    suspension = _Suspension(process)
    while not finished.is_set() and process.poll() is None:
        if isinstance(cancel, EncodeControl):
            state = cancel.wait_for_change(_WATCH_INTERVAL_S)
            cancelled = state is EncodeState.CANCELLED
            if not cancelled:
                suspension.follow(state)
        elif cancel is not None:
            cancelled = cancel.wait(_WATCH_INTERVAL_S)
        else:
            cancelled = False
            finished.wait(_WATCH_INTERVAL_S)
        if cancelled:
            stop_reason.append("cancelled")
        elif timeout is not None and suspension.running_for() > timeout:
            stop_reason.append("timeout")
        if stop_reason:
            log.info("stopping ffmpeg (pid %s): %s", process.pid, stop_reason[0])
            process.kill()  # a suspended process is killed as well (SIGKILL needs no SIGCONT)
            return


class _Suspension:
    """Suspends and resumes one ffmpeg process as its EncodeControl says, and counts only the time it ran
    (a time limit is about the work, not about how long a user kept it paused)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._started = time.monotonic()
        self._paused_since: float | None = None
        self._paused_total = 0.0

    def running_for(self) -> float:
        if self._paused_since is not None:
            return self._paused_since - self._started - self._paused_total
        return time.monotonic() - self._started - self._paused_total

    def follow(self, state: EncodeState) -> None:
        pause = state is EncodeState.PAUSED
        if pause == (self._paused_since is not None):
            return
        try:
            target = psutil.Process(self.process.pid)  # our child, not reaped yet: the pid cannot be reused
            if pause:
                target.suspend()
            else:
                target.resume()
        except psutil.NoSuchProcess:
            return  # it ended meanwhile: the read loop sees the exit
        except psutil.Error as exc:
            log.warning("could not %s ffmpeg (pid %s): %s", "pause" if pause else "resume", self.process.pid, exc)
            return
        now = time.monotonic()
        if pause:
            self._paused_since = now
        else:
            self._paused_total += now - (self._paused_since or now)
            self._paused_since = None
        log.info("ffmpeg (pid %s) %s", self.process.pid, "suspended" if pause else "resumed")


_NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0) if sys.platform == "win32" else 0
# Encodes run below normal priority: they still get every idle cycle, but the window that shows their
# progress (and the uploads beside them) stay responsive while they run.
_BELOW_NORMAL = getattr(subprocess, "BELOW_NORMAL_PRIORITY_CLASS", 0) if sys.platform == "win32" else 0
_NICENESS = 5


def _lower_priority(pid: int) -> None:
    # Set from the parent after the start: a preexec_fn would not be safe with the app's other threads.
    if sys.platform != "win32":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, pid, _NICENESS)
