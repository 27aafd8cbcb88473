"""The built-in backend ("This computer"): how fast it is ready, and its memory while gigabytes pass through.

Figures, not pass/fail. Two measurements in one run:

1. **start-up** — ``start_local_backend`` on a fresh and on a used data dir, N times: wall time until it
   accepts connections (the app shows its window meanwhile), and what it logged at INFO and above;
2. **memory** — the real ``reeldrop upload`` CLI sends files of random bytes to one running built-in
   backend until ``--gib`` have passed, each upload deleted after it lands (disk stays bounded); the
   backend child's RSS is sampled every 0.2 s. The store is on disk, so RSS should not follow the bytes.

    python bench/local_backend.py                       # 5 starts, 20 GiB in 2 GiB files
    python bench/local_backend.py --gib 4 --file-gib 1  # a quicker memory run
    python bench/local_backend.py --starts 0 --gib 1    # memory only
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.local_backend import start_local_backend  # noqa: E402

GIB = 1024**3
MIB = 1024**2


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")


def measure_starts(count: int) -> None:
    collect = _Collect()
    logging.getLogger().addHandler(collect)
    logging.getLogger().setLevel(logging.INFO)
    data_dir = Path(tempfile.mkdtemp(prefix="reeldrop-bench-start-"))
    try:
        times = []
        for index in range(count):
            collect.lines.clear()
            started = time.perf_counter()
            backend = start_local_backend(data_dir)
            ready = time.perf_counter() - started
            backend.stop()
            times.append(ready)
            kind = "fresh data dir" if index == 0 else "used data dir"
            print(f"start {index + 1}: ready in {ready:.3f} s ({kind}); {len(collect.lines)} log lines at INFO+")
        print(f"start-up: median {sorted(times)[len(times) // 2]:.3f} s, max {max(times):.3f} s over {count}")
        print("what one start logs:\n  " + "\n  ".join(collect.lines))
    finally:
        logging.getLogger().removeHandler(collect)
        shutil.rmtree(data_dir, ignore_errors=True)


def _random_file(path: Path, size: int) -> None:
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(16 * MIB, left))
            out.write(block)
            left -= len(block)


def measure_memory(total_gib: float, file_gib: float) -> None:
    work = Path(tempfile.mkdtemp(prefix="reeldrop-bench-memory-"))
    backend = start_local_backend(work / "server")
    pid = backend.pid
    assert pid is not None
    child = psutil.Process(pid)
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                samples.append((time.monotonic(), child.memory_info().rss))
            except psutil.Error:
                return
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        source = work / "payload.mp4"  # random bytes: the upload checks no content, only the type
        _random_file(source, int(file_gib * GIB))
        idle_rss = child.memory_info().rss
        sampler.start()
        env = {**os.environ, "REELDROP_HOME": str(work / "client"), "REELDROP_TOKEN": backend.token}
        sent, started, rows = 0, time.monotonic(), []
        while sent < total_gib * GIB:
            began = time.monotonic()
            answer = subprocess.run(
                [sys.executable, "-m", "app.cli", "upload", "--server", backend.url, "--json", str(source)],
                env=env,
                capture_output=True,
                text=True,
                timeout=3600,
                check=False,
            )
            record = json.loads(answer.stdout.strip().splitlines()[-1]) if answer.stdout.strip() else {}
            if answer.returncode != 0 or record.get("error"):
                raise SystemExit(f"upload failed: {record.get('error') or answer.stderr[-2000:]}")
            sent += record["size"]
            requests.delete(
                f"{backend.url}/api/upload/{record['upload_id']}",
                headers={"Authorization": f"Bearer {backend.token}"},
                timeout=60,
            ).raise_for_status()
            rss_now = child.memory_info().rss
            seconds = time.monotonic() - began
            rows.append((sent, rss_now))
            print(
                f"{sent / GIB:6.1f} GiB passed: backend RSS {rss_now / MIB:6.1f} MiB;"
                f" this file {record['size'] / seconds / MIB:6.1f} MiB/s"
            )
        stop.set()
        sampler.join(2)
        peak = max(rss for _, rss in samples) if samples else 0
        wall = time.monotonic() - started
        print(
            f"memory: {sent / GIB:.1f} GiB in {wall:.0f} s ({sent / wall / MIB:.0f} MiB/s);"
            f" backend RSS idle {idle_rss / MIB:.1f} MiB, after the first file {rows[0][1] / MIB:.1f} MiB,"
            f" at the end {rows[-1][1] / MIB:.1f} MiB, peak {peak / MIB:.1f} MiB"
        )
    finally:
        stop.set()
        backend.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=5, help="start-ups to time (0: none)")
    parser.add_argument("--gib", type=float, default=20.0, help="GiB to push through (0: no memory run)")
    parser.add_argument("--file-gib", type=float, default=2.0, help="size of each uploaded file")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} (1 min)")
    if args.starts:
        measure_starts(args.starts)
    if args.gib:
        measure_memory(args.gib, min(args.file_gib, args.gib))
    print(f"load at the end {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
