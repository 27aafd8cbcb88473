"""The app's children end with it, even when it is killed with `kill -9` (issue 12: ffmpeg encoded on alone).

Real processes: a Python child starts the real ffmpeg (or another program) the way the app does, the test
kills that child with SIGKILL, so none of its cleanup code runs, and then looks for what it left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.support.processes import (
    command_line,
    descendants,
    is_ffmpeg_writing,
    kill_all,
    kill_hard,
    python_child,
    wait_all_ended,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kills real processes the Linux way")

# Five minutes of real-time encoding (-re): it would still be running long after any wait below.
LONG_ENCODE = """
import sys, threading
from app.core.media.runner import run_ffmpeg
args = ["-re", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "300", "-f", "null", sys.argv[1]]
# From a worker thread, as the desktop pipeline and the server's worker call it.
worker = threading.Thread(target=run_ffmpeg, args=(args, 300.0))
worker.start()
worker.join()
"""


def started_ffmpeg(parent: subprocess.Popen[str], output: Path) -> list[psutil.Process]:
    found = wait_until(lambda: descendants(parent.pid, is_ffmpeg_writing(output)), timeout=60, what="ffmpeg to start")
    assert len(found) == 1
    return found


@pytest.mark.parametrize("paused", [False, True], ids=["encoding", "paused"])
def test_ffmpeg_ends_when_the_process_that_ran_it_is_killed(tmp_path: Path, paused: bool) -> None:
    output = tmp_path / "unique-output.null"
    app = python_child(LONG_ENCODE, str(output))
    try:
        ffmpeg = started_ffmpeg(app, output)
        if paused:  # as a paused encode is (SIGSTOP): a stopped process must not linger forever either
            ffmpeg[0].send_signal(signal.SIGSTOP)
            wait_until(lambda: ffmpeg[0].status() == psutil.STATUS_STOPPED, timeout=10, what="ffmpeg to stop")
        kill_hard(app)
        wait_all_ended(ffmpeg, "ffmpeg after its parent was killed")
    finally:
        app.kill()
        app.wait(timeout=30)


def test_ffmpeg_keeps_running_while_its_parent_lives(tmp_path: Path) -> None:
    # The kernel's parent-death signal follows the *thread* that started ffmpeg: run_ffmpeg waits on that
    # thread, so other threads of the app coming and going must not touch it.
    code = LONG_ENCODE.replace("worker.join()", "threading.Thread(target=lambda: None).start()\nworker.join()")
    output = tmp_path / "unique-output.null"
    app = python_child(code, str(output))
    try:
        ffmpeg = started_ffmpeg(app, output)
        before = ffmpeg[0].cpu_times()
        wait_until(lambda: ffmpeg[0].cpu_times() != before, timeout=30, what="ffmpeg to go on working")
        assert not any(p.status() == psutil.STATUS_ZOMBIE for p in ffmpeg)
    finally:
        kill_hard(app)
    wait_all_ended(ffmpeg, "ffmpeg after its parent was killed")


def test_a_child_whose_parent_died_before_it_was_bound_does_not_start() -> None:
    # The race the parent-pid check closes: the parent died between fork and prctl, so the kernel will
    # never signal. Simulated by telling the child to expect a parent it does not have.
    from app.core.child_lifetime import ORPHANED_EXIT_CODE, _die_with_parent

    child = subprocess.Popen(["sleep", "300"], preexec_fn=_die_with_parent(1))
    try:
        assert child.wait(timeout=30) == ORPHANED_EXIT_CODE
    finally:
        child.kill()


def test_the_outside_watcher_kills_the_child_when_its_parent_is_killed(tmp_path: Path) -> None:
    # macOS's mechanism (a /bin/sh watcher beside the child), exercised here on Linux.
    code = (
        "import subprocess, sys, threading\n"
        "from app.core.child_lifetime import watch_from_outside\n"
        "child = subprocess.Popen(['sleep', '300'])\n"
        "watch_from_outside(child.pid)\n"
        "print(child.pid, flush=True)\n"
        "child.wait()\n"
    )
    app = python_child(code)
    try:
        assert app.stdout is not None
        sleeper = psutil.Process(int(app.stdout.readline()))
        watchers = wait_until(lambda: descendants(app.pid, lambda p: p.name() == "sh"), timeout=30, what="watcher")
        kill_hard(app)
        wait_all_ended([sleeper, *watchers], "the watched child and its watcher")
    finally:
        app.kill()
        app.wait(timeout=30)


def test_the_outside_watcher_ends_by_itself_once_the_child_ended(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys, time\n"
        "from app.core.child_lifetime import watch_from_outside\n"
        "child = subprocess.Popen(['sleep', '0.2'])\n"
        "watch_from_outside(child.pid)\n"
        "child.wait()\n"
        "print('waited', flush=True)\n"
        "time.sleep(300)\n"
    )
    app = python_child(code)
    try:
        assert app.stdout is not None and app.stdout.readline().strip() == "waited"
        watchers = descendants(app.pid, lambda p: p.name() == "sh")
        wait_all_ended(watchers, "the watcher of a child that ended")
        assert psutil.Process(app.pid).status() != psutil.STATUS_ZOMBIE  # the parent lives on, untouched
    finally:
        kill_hard(app)


def test_a_python_child_exits_when_orphaned_whatever_it_is_doing() -> None:
    # The built-in server's watchdog: its main thread here is busy (in a C call that never returns to
    # Python code), yet it ends once its parent is killed.
    grandchild = (
        "import os, sys, time\n"
        "from app.core.child_lifetime import exit_when_orphaned\n"
        "exit_when_orphaned(int(sys.argv[1]))\n"
        "print('watching', flush=True)\n"
        "time.sleep(300)\n"
    )
    code = (
        "import os, subprocess, sys\n"
        f"child = subprocess.Popen([sys.executable, '-c', {grandchild!r}, str(os.getpid())], stdout=subprocess.PIPE,"
        " text=True)\n"
        "print(child.pid, child.stdout.readline().strip(), flush=True)\n"
        "child.wait()\n"
    )
    app = python_child(code)
    try:
        assert app.stdout is not None
        pid, state = app.stdout.readline().split()
        assert state == "watching"
        server = psutil.Process(int(pid))
        kill_hard(app)
        wait_all_ended([server], "the orphaned Python child")
    finally:
        app.kill()
        app.wait(timeout=30)
        kill_all(descendants(app.pid))


def test_a_python_child_whose_parent_is_already_gone_exits_at_once() -> None:
    from app.core.child_lifetime import ORPHANED_EXIT_CODE

    code = (
        "import time\nfrom app.core.child_lifetime import exit_when_orphaned\nexit_when_orphaned(1)\ntime.sleep(300)\n"
    )
    child = python_child(code)

    assert child.wait(timeout=60) == ORPHANED_EXIT_CODE


# A probe's or a version check's short run, caught by the kill between its start and its timeout. `sleep`
# adds up its arguments: the odd fraction makes this child's command line unique.
SHORT_RUN = """
import sys
from app.core.child_lifetime import run_ending_with_this_process
run_ending_with_this_process(["sleep", "300", sys.argv[1]], timeout=600)
"""


def test_a_short_run_ends_when_the_process_that_ran_it_is_killed() -> None:
    marker = "0.000123"
    app = python_child(SHORT_RUN, marker)
    try:
        sleeping = wait_until(
            lambda: descendants(app.pid, lambda p: marker in command_line(p)), timeout=30, what="the short run"
        )
        kill_hard(app)
        wait_all_ended(sleeping, "the short run after its parent was killed")
    finally:
        app.kill()
        app.wait(timeout=30)


def test_a_short_run_past_its_timeout_is_killed_and_says_so() -> None:
    from app.core.child_lifetime import run_ending_with_this_process

    with pytest.raises(subprocess.TimeoutExpired):
        run_ending_with_this_process(["sleep", "300", "0.000321"], timeout=0.5)
    assert not descendants(os.getpid(), lambda p: "0.000321" in command_line(p))


def test_a_short_run_answers_as_subprocess_run_does() -> None:
    from app.core.child_lifetime import run_ending_with_this_process

    done = run_ending_with_this_process(
        [sys.executable, "-c", "import sys; print('out'); sys.exit(3)"], timeout=30, text=True
    )
    assert (done.returncode, done.stdout.strip(), done.stderr) == (3, "out", "")
