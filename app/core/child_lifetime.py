"""Child processes that end with the process that started them, however it ends.

After the app aborted, its ffmpeg went on encoding for ~50 s on its own (issue 12). A ``kill -9`` or an
abort runs none of our cleanup code, so what ends the children must live where the kill does not reach:
in the kernel, or in another process.

- Linux: the child asks the kernel for a SIGKILL when its parent dies (``PR_SET_PDEATHSIG``), between
  fork and exec. The kernel means the parent *thread*: callers must wait for the child on the thread that
  started it (``run_ffmpeg`` does: it reads, waits and kills on that thread and returns only once ffmpeg
  is reaped), and a thread pool must not let that thread end first.
- Windows: a Job Object that kills its processes when its last handle closes. Only this process holds
  the handle, and Windows closes it when this process ends, however it ends.
- macOS and other POSIX systems: a tiny ``/bin/sh`` watcher beside the child (a thread of ours would
  die with us) checks once a second that we are still there, and kills the child when we are not.

A Python child of ours (the built-in server, app/local_backend.py) calls ``exit_when_orphaned`` itself;
its own children, started here too, then end with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

ORPHAN_POLL_S = 0.5  # how often a Python child checks its parent is still there
ORPHANED_EXIT_CODE = 1
WATCHER_POLL_S = 1  # the sh watcher's check interval (an integer: POSIX sleep takes whole seconds)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_SIGKILL = int(signal.SIGKILL) if hasattr(signal, "SIGKILL") else 9


def popen_ending_with_this_process(
    args: Sequence[str], *, rlimits: Sequence[tuple[int, int]] = (), **popen_kwargs: Any
) -> subprocess.Popen[Any]:
    """``subprocess.Popen(args, **popen_kwargs)`` for a child that cannot outlive this process.

    ``rlimits``: (``resource.RLIMIT_*``, limit) pairs the child gets before it runs (POSIX; on Linux set
    between fork and exec, elsewhere just after the start)."""
    if sys.platform.startswith("linux") and _linux_prctl is not None:
        if "preexec_fn" in popen_kwargs:
            raise ValueError("popen_ending_with_this_process sets preexec_fn itself")
        return subprocess.Popen(args, preexec_fn=_die_with_parent(os.getpid(), rlimits), **popen_kwargs)
    process = subprocess.Popen(args, **popen_kwargs)
    end_with_this_process(process.pid)
    if rlimits:
        _limit_started(process.pid, rlimits)
    return process


def _limit_started(pid: int, rlimits: Sequence[tuple[int, int]]) -> None:
    import psutil

    try:
        for which, limit in rlimits:
            psutil.Process(pid).rlimit(which, (limit, limit))
    except (AttributeError, psutil.Error) as exc:  # no rlimit on this system, or already ended
        log.debug("resource limits not applied to %d: %s", pid, exc)


def run_ending_with_this_process(
    args: Sequence[str], *, timeout: float, **popen_kwargs: Any
) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run(args, capture_output=True, timeout=timeout, check=False, ...)`` for a short child
    (a probe, a version check, a test encode) that cannot outlive this process either: one caught by a
    ``kill -9`` of the app between its start and its timeout would otherwise stay behind. Waits on the
    calling thread, as the Linux parent-death signal requires. Raises ``subprocess.TimeoutExpired`` after
    killing the child."""
    popen_kwargs.setdefault("stdout", subprocess.PIPE)
    popen_kwargs.setdefault("stderr", subprocess.PIPE)
    with popen_ending_with_this_process(args, **popen_kwargs) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except BaseException:  # the timeout, or this thread being interrupted: never leave it running
            process.kill()
            process.communicate()
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def end_with_this_process(pid: int) -> None:
    """Make the already started child ``pid`` end with this process (Windows: the Job Object; macOS and
    other POSIX: the sh watcher). On Linux this needs the child's cooperation: start it through
    ``popen_ending_with_this_process``, or, for a Python child, call ``exit_when_orphaned`` in it."""
    if sys.platform == "win32":
        _WindowsKillOnCloseJob.shared().assign(pid)
    elif not sys.platform.startswith("linux") or _linux_prctl is None:
        watch_from_outside(pid)


def exit_when_orphaned(parent_pid: int, poll_s: float = ORPHAN_POLL_S) -> None:
    """In a Python child of ours: end this process (``os._exit``) within ``poll_s`` of ``parent_pid``
    ending, whatever its other threads are doing. ``parent_pid`` is passed from the parent, so a parent
    that died before this call is noticed too.

    A thread that polls, rather than PR_SET_PDEATHSIG: the kernel would fire that when the parent's
    *thread* that started us ends (a pool thread, say), though the parent still runs and needs us.
    On Windows the parent puts us in its Job Object instead (``end_with_this_process``), as the parent
    pid never changes there.
    """
    if sys.platform == "win32":
        return
    if os.getppid() != parent_pid:
        os._exit(ORPHANED_EXIT_CODE)
    threading.Thread(
        target=_exit_once_orphaned, args=(parent_pid, poll_s), name="reeldrop-orphan-watch", daemon=True
    ).start()


def _exit_once_orphaned(parent_pid: int, poll_s: float) -> None:
    # No event to wait on that works on every POSIX system: the parent's exit only shows as our
    # reparenting (to init, or to a subreaper). One getppid() per poll costs nothing.
    while os.getppid() == parent_pid:
        time.sleep(poll_s)
    # No logging: the records would go to the parent, which is gone. Nothing is left to serve.
    os._exit(ORPHANED_EXIT_CODE)


# -- Linux ----------------------------------------------------------------------------------------
def _resolve_linux_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None).prctl
    except (OSError, AttributeError):  # a libc without prctl: fall back to the sh watcher
        return None
    prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
    prctl.restype = ctypes.c_int
    return prctl


# Resolved once, here, in the parent: the child must not look anything up between fork and exec.
_linux_prctl = _resolve_linux_prctl()
if sys.platform != "win32":
    import resource

    _setrlimit: Callable[[int, tuple[int, int]], None] | None = resource.setrlimit
else:
    _setrlimit = None


def _die_with_parent(parent_pid: int, rlimits: Sequence[tuple[int, int]] = ()) -> Callable[[], None]:
    """The preexec_fn, chosen over exec'ing through ``setpriv --pdeathsig`` (not on every system, and it
    cannot close the race below). subprocess warns that a preexec_fn may deadlock with other threads: a
    child forked while another thread held a lock (logging's, a C library's) finds it held forever. This
    one takes none: one syscall through a function resolved before the fork, one getppid(), no import,
    no logging, no I/O; beyond that the child only runs CPython's own after-fork code, as every child of
    multiprocessing's "fork" method does. The cost: subprocess then forks instead of using vfork, once
    per encode."""
    prctl = _linux_prctl
    assert prctl is not None
    limits = tuple(rlimits)
    setrlimit = _setrlimit  # resolved before the fork, like prctl
    assert setrlimit is not None or not limits

    def in_child_before_exec() -> None:
        for which, limit in limits:  # one syscall each, no lock: resource limits for an untrusted input
            setrlimit(which, (limit, limit))  # type: ignore[misc]
        if prctl(_PR_SET_PDEATHSIG, _SIGKILL, 0, 0, 0) != 0:
            return  # cannot happen for a valid signal; the child then runs unbound rather than not at all
        if os.getppid() != parent_pid:  # the parent died before the prctl: it will never fire now
            os._exit(ORPHANED_EXIT_CODE)

    return in_child_before_exec


# -- macOS and other POSIX ------------------------------------------------------------------------
# $1: our pid, $2: the child's. The child's parent pid tells the cases apart: still ours (go on), gone
# and reaped (ps fails: done), reused by a stranger while we live (done, without a kill), or re-parented
# because we died (kill it).
_WATCHER_SCRIPT = f"""
while sleep {WATCHER_POLL_S}; do
  parent=$(ps -o ppid= -p "$2") || exit 0
  [ -n "$parent" ] || exit 0
  [ $parent -eq "$1" ] && continue
  kill -0 "$1" 2>/dev/null && exit 0
  kill -KILL "$2" 2>/dev/null
  exit 0
done
"""


def watch_from_outside(pid: int) -> None:
    """Start a ``/bin/sh`` watcher that kills child ``pid`` within about a second of this process ending
    (for any reason, ``kill -9`` included), and ends by itself once the child has ended and been reaped.
    The mechanism on macOS; usable on any POSIX system (Linux tests it)."""
    try:
        watcher = subprocess.Popen(
            ["/bin/sh", "-c", _WATCHER_SCRIPT, "reeldrop-child-watch", str(os.getpid()), str(pid)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError as exc:
        log.warning("cannot watch child %s (it may outlive the app if the app is killed): %s", pid, exc)
        return
    # Reap the watcher when it ends, so it never lingers as a zombie of ours.
    threading.Thread(target=watcher.wait, name=f"reeldrop-child-watch-{pid}", daemon=True).start()


# -- Windows --------------------------------------------------------------------------------------
class _WindowsKillOnCloseJob:
    """One Job Object per process, with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE. Its handle is never closed
    by us: Windows closes it as this process ends, and then kills every process in the job (a child's
    own children too, unless they broke away)."""

    _instance: _WindowsKillOnCloseJob | None = None
    _lock = threading.Lock()

    def __init__(self, handle: int) -> None:
        self.handle = handle

    @classmethod
    def shared(cls) -> _WindowsKillOnCloseJob:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls(_create_kill_on_close_job())
            return cls._instance

    def assign(self, pid: int) -> None:
        if sys.platform != "win32" or not self.handle:
            return
        from ctypes import wintypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.OpenProcess.restype = wintypes.HANDLE
        process_set_quota, process_terminate = 0x0100, 0x0001
        process = kernel32.OpenProcess(process_set_quota | process_terminate, False, pid)
        if not process:
            log.warning("cannot open child %s to bind it to the app: error %s", pid, ctypes.get_last_error())
            return
        try:
            if not kernel32.AssignProcessToJobObject(ctypes.c_void_p(self.handle), ctypes.c_void_p(process)):
                # Windows 7 refuses a process that is already in another job (nested jobs came in 8).
                log.warning("child %s may outlive the app: job error %s", pid, ctypes.get_last_error())
        finally:
            kernel32.CloseHandle(ctypes.c_void_p(process))


def _create_kill_on_close_job() -> int:
    if sys.platform != "win32":
        return 0
    from ctypes import wintypes

    class IoCounters(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_ulonglong)
            for name in ("Read", "Write", "Other", "ReadTransfer", "WriteTransfer", "OtherTransfer")
        ]

    class BasicLimits(ctypes.Structure):  # JOBOBJECT_BASIC_LIMIT_INFORMATION
        _fields_ = [
            ("PerProcessUserTimeLimit", wintypes.LARGE_INTEGER),
            ("PerJobUserTimeLimit", wintypes.LARGE_INTEGER),
            ("LimitFlags", wintypes.DWORD),
            ("MinimumWorkingSetSize", ctypes.c_size_t),
            ("MaximumWorkingSetSize", ctypes.c_size_t),
            ("ActiveProcessLimit", wintypes.DWORD),
            ("Affinity", ctypes.c_size_t),
            ("PriorityClass", wintypes.DWORD),
            ("SchedulingClass", wintypes.DWORD),
        ]

    class ExtendedLimits(ctypes.Structure):  # JOBOBJECT_EXTENDED_LIMIT_INFORMATION
        _fields_ = [
            ("BasicLimitInformation", BasicLimits),
            ("IoInfo", IoCounters),
            ("ProcessMemoryLimit", ctypes.c_size_t),
            ("JobMemoryLimit", ctypes.c_size_t),
            ("PeakProcessMemoryUsed", ctypes.c_size_t),
            ("PeakJobMemoryUsed", ctypes.c_size_t),
        ]

    job_object_extended_limit_information, kill_on_job_close = 9, 0x2000
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.CreateJobObjectW.restype = wintypes.HANDLE
    job = kernel32.CreateJobObjectW(None, None)
    if not job:
        log.warning("no Job Object (error %s): children may outlive the app", ctypes.get_last_error())
        return 0
    limits = ExtendedLimits()
    limits.BasicLimitInformation.LimitFlags = kill_on_job_close
    if not kernel32.SetInformationJobObject(
        ctypes.c_void_p(job), job_object_extended_limit_information, ctypes.byref(limits), ctypes.sizeof(limits)
    ):
        log.warning("no kill-on-close Job Object (error %s): children may outlive the app", ctypes.get_last_error())
        with contextlib.suppress(OSError):
            kernel32.CloseHandle(ctypes.c_void_p(job))
        return 0
    return int(job)


__all__ = [
    "ORPHANED_EXIT_CODE",
    "end_with_this_process",
    "exit_when_orphaned",
    "popen_ending_with_this_process",
    "watch_from_outside",
]
