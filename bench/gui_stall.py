"""How long does the window freeze while 8 uploads run with 50 files queued? (issue 6: "never frozen")

Runs the real app window (Qt's offscreen platform, or a display: run it under `xvfb-run`) against the
built-in backend ("This computer": server, worker and S3 in this process, as a user gets it), queues 50
generated files with concurrency 8, and prints the longest event-loop stall, the 99th percentile, and
every stall over 50 ms with the phase it fell in (how many uploads were on the wire then). Figures, not
pass/fail.

The files are random bytes named .mp4, queued with the "original" preset: an encode (one at a time, by
design) would pace the uploads so that 8 are never on the wire together. The backend then cannot process
such files, so each item ends Failed after its upload; `--clips` queues real testsrc2 clips instead
(processed for real, so the server's ffmpeg competes for the CPU too).

Usage: python bench/gui_stall.py [--files 50] [--size-mb 120] [--concurrency 8] [--clips] [--why]
`--why` samples the main thread's Python stack whenever it is late, and prints where stalls were spent.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

STALL_MS = 50.0
SAMPLE_S = 0.01


class InFlight(threading.Thread):
    """Samples how many parts/POSTs the engine has on the wire (a lock-free read), off the main thread."""

    def __init__(self, pipeline: object) -> None:
        super().__init__(name="bench-in-flight", daemon=True)
        self.pipeline = pipeline
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_S):
            self.samples.append((time.perf_counter(), self.pipeline.uploads_in_flight))  # type: ignore[attr-defined]

    def around(self, start: float, end: float) -> int:
        """The most uploads on the wire between two instants (a stall's span)."""
        seen = [n for at, n in self.samples if start - SAMPLE_S <= at <= end + SAMPLE_S]
        return max(seen, default=0)

    def seconds_at_least(self, count: int) -> float:
        return sum(SAMPLE_S for _at, n in self.samples if n >= count)


class WhyLate(threading.Thread):
    """When the main thread has not run the probe for 25 ms, note its Python stack (once per stall)."""

    def __init__(self, probe: object, main_ident: int) -> None:
        super().__init__(name="bench-why-late", daemon=True)
        self.probe = probe
        self.main_ident = main_ident
        self.stacks: Counter[str] = Counter()
        self.stop = threading.Event()

    def run(self) -> None:
        noted_for = None
        while not self.stop.wait(0.002):
            last = self.probe._last  # type: ignore[attr-defined]
            if last is None or time.perf_counter() - last < 0.025 or noted_for == last:
                continue
            noted_for = last
            frame = sys._current_frames().get(self.main_ident)
            lines = traceback.format_stack(frame, limit=7) if frame is not None else ["(not in Python)"]
            self.stacks["".join(line.split("\n")[0].strip() + "\n" for line in lines)] += 1


class GcPauses:
    """Every garbage collection that took longer than 10 ms: (perf_counter when it ended, ms, generation)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[float, float, int]] = []
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._began = now
        elif (now - self._began) * 1000 > 10:
            self.pauses.append((now, (now - self._began) * 1000, info["generation"]))


def thread_cpu() -> Counter[str]:
    """CPU seconds used so far by each group of this process's threads (by name, numbers dropped); what
    threads that have ended used is under "(ended threads)"."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: Counter[str] = Counter()
    for thread in threading.enumerate():
        try:
            fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        used[thread.name.rstrip("0123456789_-() ")] += (int(fields[11]) + int(fields[12])) / ticks
    process = os.times()
    used["(ended threads)"] = process.user + process.system - sum(used.values())
    return used


def make_files(folder: Path, count: int, size: int, clips: bool) -> list[Path]:
    folder.mkdir(parents=True)
    if clips:
        first = folder / "clip-00.mp4"
        # ~size bytes of H.264: testsrc2 at a bitrate that gives the size over 8 seconds
        rate = f"{size * 8 // 8 // 1000}k"
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
             "testsrc2=size=1280x720:rate=25", "-f", "lavfi", "-i", "sine=frequency=440", "-t", "8",
             "-c:v", "libx264", "-preset", "ultrafast", "-b:v", rate, "-c:a", "aac", "-pix_fmt", "yuv420p",
             str(first)],
            check=True, timeout=300,
        )  # fmt: skip
        return [first] + [Path(shutil.copy2(first, folder / f"clip-{n:02}.mp4")) for n in range(1, count)]
    # One block of random bytes repeated (writing gigabytes of fresh randomness would take longer than the
    # run), behind a header that makes each file's content its own.
    block, paths = os.urandom(8 * 1024 * 1024), []
    for number in range(count):
        path = folder / f"random-{number:02}.mp4"
        with path.open("wb") as out:
            out.write(os.urandom(4096))
            left = size - 4096
            while left > 0:
                left -= out.write(block[: min(left, len(block))])
        paths.append(path)
    return paths


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--size-mb", type=float, default=120, help="size of each file (MB)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--clips", action="store_true", help="real clips (processed by the server) instead")
    parser.add_argument("--why", action="store_true", help="sample the main thread's stack during stalls")
    parser.add_argument("--timeout", type=float, default=600, help="give up after this many seconds")
    args = parser.parse_args()
    if "DISPLAY" not in os.environ and "WAYLAND_DISPLAY" not in os.environ:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    with tempfile.TemporaryDirectory(prefix="reeldrop-gui-stall-") as tmp:
        os.environ["REELDROP_HOME"] = str(Path(tmp) / "home")  # never the user's own queue or settings
        return run(args, Path(tmp))


def run(args: argparse.Namespace, tmp: Path) -> int:
    from PySide6.QtCore import QEventLoop, QTimer

    from app.core.credentials import MemoryCredentialStore
    from app.core.paths import app_paths
    from app.core.pipeline.model import Stage
    from app.core.settings import Settings, save_settings
    from app.gui.main import application, build_app
    from app.gui.stall_probe import StallProbe

    files = make_files(tmp / "files", args.files, int(args.size_mb * 1_000_000), args.clips)
    paths = app_paths().ensure()
    settings = Settings(
        concurrency=args.concurrency, default_preset="original", output_folder=tmp / "results", start_on_add=True
    )
    save_settings(settings, paths.settings_file)
    qt = application([])
    running = build_app(paths, store=MemoryCredentialStore(), show_crash_dialogs=False)
    loop = QEventLoop()

    def wait_for(condition, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        timer = QTimer()
        timer.timeout.connect(lambda: loop.quit() if condition() or time.monotonic() > deadline else None)
        timer.start(100)
        loop.exec()
        timer.stop()
        return bool(condition())

    try:
        if not wait_for(lambda: running.session.pipeline is not None, 120):
            print("the built-in server did not start", file=sys.stderr)
            return 2
        pipeline = running.session.pipeline
        wait_for(lambda: False, 2.0)  # let start-up settle: the figure is about the busy queue
        probe = StallProbe(parent=running.window).start()
        sampler = InFlight(pipeline)
        sampler.start()
        why = WhyLate(probe, threading.main_thread().ident or 0) if args.why else None
        if why is not None:
            why.start()
        pauses = GcPauses()
        gc.callbacks.append(pauses)
        load = [os.getloadavg()[0], 0.0]
        cpu_before = thread_cpu()
        started = time.perf_counter()
        running.window.add_paths(files)

        uploading = (Stage.WAITING, Stage.COMPRESSING, Stage.UPLOADING)

        def uploads_over() -> bool:
            items = running.window.model.items()
            return len(items) == len(files) and not any(i.stage in uploading for i in items)

        finished = wait_for(uploads_over, args.timeout)
        uploads_done = time.perf_counter()
        load[1] = os.getloadavg()[0]
        cpu_used = thread_cpu()
        cpu_used.subtract(cpu_before)
        wait_for(lambda: False, 3.0)  # and the first seconds after: results, failures, notifications
        probe.stop()
        gc.callbacks.remove(pauses)
        sampler.stop.set()
        if why is not None:
            why.stop.set()
        stages = Counter(i.stage.value for i in running.window.model.items())
    finally:
        running.close()
        qt.shutdown()

    gaps_ms = [gap * 1000 for gap in probe.gaps]
    peak = max((n for _at, n in sampler.samples), default=0)
    print(f"{len(files)} files ({'clips' if args.clips else 'random data'}, {args.size_mb:g} MB each), "
          f"concurrency {args.concurrency}, Qt platform {os.environ.get('QT_QPA_PLATFORM') or 'default'}")  # fmt: skip
    print(f"uploads {'finished' if finished else 'NOT finished'} after {uploads_done - started:.1f} s; "
          f"final stages: {dict(stages)}")  # fmt: skip
    print(f"uploads on the wire: at most {peak} at once; {args.concurrency} or more for "
          f"{sampler.seconds_at_least(args.concurrency):.1f} s")  # fmt: skip
    print(f"event loop: longest stall {max(gaps_ms, default=0):.1f} ms, p99 {percentile(gaps_ms, 0.99):.1f} ms, "
          f"p50 {percentile(gaps_ms, 0.5):.1f} ms over {len(gaps_ms)} ticks of {probe.interval * 1000:.0f} ms"
          f"; load average {load[0]:.1f} before, {load[1]:.1f} after (2: both cores of this machine busy)")  # fmt: skip
    stalls = probe.stalls(STALL_MS)
    print(f"stalls over {STALL_MS:.0f} ms: {len(stalls)}")
    for at, ms, cpu in stalls:
        on_wire = sampler.around(at - ms / 1000, at)
        when = "after the uploads" if at > uploads_done else f"{on_wire} uploads on the wire"
        print(f"  {ms:6.1f} ms at {at - started:6.1f} s ({when}); the main thread worked {cpu:.0f} ms of it")
    for at, ms, generation in pauses.pauses:
        print(f"  garbage collection of generation {generation}: {ms:.0f} ms at {at - started:.1f} s")
    busiest = ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu_used.most_common(8))
    print(f"CPU seconds by thread while uploading ({uploads_done - started:.1f} s): {busiest}")
    if why is not None:
        print("where the main thread was when late (innermost last):")
        for stack, count in why.stacks.most_common(8):
            print(f"  {count} x\n    " + stack.strip().replace("\n", "\n    "))
    return 0 if finished else 1


if __name__ == "__main__":
    sys.exit(main())
