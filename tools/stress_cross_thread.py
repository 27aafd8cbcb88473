"""Reproduce (or rule out) the cross-thread crash of issue 12 outside the app.

Worker threads started by Python hand `(callback, value)` pairs to the GUI thread at a high rate, the way
the desktop app's bridge does, through one of two doors:

* `signal`: a Qt signal emitted from the worker with a queued connection (the bridge before issue 12);
* `inbox`:  app.gui.inbox.MainThreadInbox, a plain queue plus a socket wake-up (no Qt call off the GUI thread);
* `gui-only`: no hand-over at all: the GUI thread emits a signal and sets a window title in a loop while the
  workers run pure Python (the control that tells a bridge bug from a PySide6 bug).

Findings on this machine (Python 3.11.7): with PySide6 6.12.0 every door crashes, `gui-only` included
(`bool_dealloc`, `none_dealloc`): that version changes the reference counts of None/True/False without
holding the GIL. 6.7.3 to 6.11.3 on Python 3.11, and 6.12.0 on Python 3.12 and 3.13 (where those objects
are immortal), never crashed. Hence the bound in pyproject.toml.

Each trial runs in a child process for a few seconds (offscreen platform) and counts as a crash when the
child dies by a signal or prints "Fatal Python error". Examples:

    python tools/stress_cross_thread.py --door signal --trials 20
    python tools/stress_cross_thread.py --door inbox --trials 20
    python tools/stress_cross_thread.py --door gui-only --trials 20
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

TRIAL_TIMEOUT_S = 60.0


def _child(door: str, seconds: float, threads: int) -> int:
    """One trial: `threads` workers post for `seconds`; the GUI thread runs the callbacks."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    received = [0]

    def count(value: Any) -> None:
        received[0] += 1

    post: Callable[[Callable[[Any], None], Any], None]
    if door == "signal":

        class Door(QObject):
            deliver = Signal(object, object)

            def __init__(self) -> None:
                super().__init__()
                self.deliver.connect(self.on_deliver, Qt.ConnectionType.QueuedConnection)

            @Slot(object, object)
            def on_deliver(self, callback: Callable[[Any], None], value: Any) -> None:
                callback(value)

        signal_door = Door()
        post = signal_door.deliver.emit
    elif door == "gui-only":
        from PySide6.QtWidgets import QWidget

        class Chatter(QObject):
            said = Signal(object)

        chatter, window = Chatter(), QWidget()
        chatter.said.connect(count)

        def gui_thread_calls() -> None:
            for i in range(500):
                chatter.said.emit(i)
                window.setWindowTitle(f"title {i}")

        ticker = QTimer()
        ticker.timeout.connect(gui_thread_calls)
        ticker.start(0)

        def post(callback: Callable[[Any], None], value: Any) -> None:
            # The workers only churn Python objects (bools, None) while the GUI thread calls into Qt.
            del callback, value
    else:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from app.gui.inbox import MainThreadInbox

        inbox = MainThreadInbox()
        post = inbox.post

    stop = threading.Event()

    def work(n: int) -> None:
        # The values the app sends: tuples of small objects, bools, None, lists (snapshots).
        i = 0
        while not stop.is_set():
            i += 1
            post(count, (n, i, True, None, [False, i]))
            if i % 64 == 0:
                time.sleep(0.0005)

    workers = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    QTimer.singleShot(int(seconds * 1000), app.quit)
    app.exec()
    stop.set()
    for worker in workers:
        worker.join(timeout=5)
    app.processEvents()
    print(f"received {received[0]}", flush=True)
    return 0


def _trial(door: str, seconds: float, threads: int) -> tuple[bool, str]:
    cmd = [sys.executable, __file__, "--child", "--door", door, "--seconds", str(seconds), "--threads", str(threads)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=TRIAL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return True, "hung (no exit within the trial's time limit)"
    crashed = done.returncode != 0 or "Fatal Python error" in done.stderr
    first = next((line for line in done.stderr.splitlines() if "Fatal" in line or "error" in line.lower()), "")
    return crashed, f"rc {done.returncode} {first or done.stdout.strip()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--door", choices=("signal", "inbox", "gui-only"), default="signal")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.door, args.seconds, args.threads)
    crashes = 0
    for number in range(1, args.trials + 1):
        crashed, detail = _trial(args.door, args.seconds, args.threads)
        crashes += crashed
        print(f"trial {number:3d} {args.door}: {'CRASH' if crashed else 'ok   '} {detail}", flush=True)
    print(f"{args.door}: {crashes} crashes in {args.trials} trials")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
