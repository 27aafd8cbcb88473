"""Does ReelDrop's encode cost more than the same ffmpeg command typed by hand?

Runs `app.core.media.compress` and the exact argv it uses (`compress_argv`) by hand, alternately, on the
same generated clip, and prints wall time and CPU seconds of each round and the ratio of the medians.
Figures, not pass/fail. Usage: python bench/encode.py [--seconds 20] [--size 1920x1080] [--preset 720p]
[--rounds 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.core.media import compress, compress_argv, find_ffmpeg


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def make_source(folder: Path, seconds: int, size: str) -> Path:
    source = folder / "source.mp4"
    ffmpeg = find_ffmpeg().ffmpeg
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440", "-t", str(seconds), "-c:v", "libx264", "-preset",
         "ultrafast", "-crf", "18", "-c:a", "aac", str(source)],
        check=True, timeout=600,
    )  # fmt: skip
    return source


def by_hand(argv: list[str]) -> tuple[float, float]:
    cpu, start = child_cpu(), time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=3600)
    return time.perf_counter() - start, child_cpu() - cpu


def through_reeldrop(source: Path, out: Path, preset: str, temp: Path) -> tuple[float, float]:
    cpu, start = child_cpu(), time.perf_counter()
    compress(source, out, preset, temp_dir=temp)
    return time.perf_counter() - start, child_cpu() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--preset", default="720p")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reeldrop-encode-bench-") as tmp:
        folder = Path(tmp)
        source = make_source(folder, args.seconds, args.size)
        argv = compress_argv(source, folder / "by-hand.mp4", args.preset)
        hand, ours = [], []
        for _ in range(args.rounds):
            hand.append(by_hand(argv))
            ours.append(through_reeldrop(source, folder / "reeldrop.mp4", args.preset, folder))
        print(f"source: {args.seconds} s {args.size} testsrc2 -> preset {args.preset}, {args.rounds} rounds")
        print(f"{'':12} {'wall s (median)':>16} {'ffmpeg CPU s (median)':>22}")
        for name, runs in (("by hand", hand), ("reeldrop", ours)):
            wall, cpu = statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)
            print(f"{name:12} {wall:16.2f} {cpu:22.2f}")
        ratio = statistics.median(w for w, _ in ours) / statistics.median(w for w, _ in hand)
        print(f"reeldrop / by hand, wall: x{ratio:.3f} ({(ratio - 1) * 100:+.1f}%)")
        print("command:", " ".join(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
