#!/usr/bin/env python3
"""Drop -> results on "This computer", and the second encode the server no longer does.

1. **drop -> results**: the real `reeldrop run CLIP --preset P` on the built-in backend (a private
   REELDROP_HOME, the server starting included), wall time, split into the stages the queue journals
   (compressing, uploading, processing, downloading), read from outside every 0.1 s.
2. **the preset's own rendition, both ways**: the same client encode (``compress`` with the preset,
   fragmented, as the app uploads it) made into that rendition by the server's step, remuxed as it is now,
   and encoded again as before (the floor of that encode: the same step without the reuse). Their
   difference is what the change took off the processing stage.

Figures, not pass/fail. Usage: python bench/drop_to_results.py [--seconds 60] [--size 1920x1080]
[--preset 1080p] [--rounds 1]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core.media import compress, get_preset, probe  # noqa: E402
from app.core.media.plan import plan_output  # noqa: E402
from app.server.worker.renditions import rendition_preset  # noqa: E402
from app.server.worker.steps import StepContext, _encode, make_rendition  # noqa: E402

STAGES = ("compressing", "uploading", "processing", "downloading", "done")


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def make_source(folder: Path, seconds: int, size: str) -> Path:
    """testsrc2 and a tone, nearly lossless (the creator's camera file), cached by length and size."""
    source = folder / f"source-{seconds}s-{size}.mp4"
    if source.exists():
        return source
    from app.core.media import find_ffmpeg

    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [find_ffmpeg().ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440", "-t", str(seconds), "-c:v", "libx264", "-preset",
         "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac", str(source) + ".tmp.mp4"],
        check=True, timeout=1200,
    )  # fmt: skip
    os.replace(str(source) + ".tmp.mp4", source)
    return source


def _stage(home: Path) -> str | None:
    files = sorted((home / "data").glob("queue-*.sqlite3"))
    if not files:
        return None
    try:
        with sqlite3.connect(f"file:{files[0]}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute("SELECT stage FROM items ORDER BY position DESC LIMIT 1").fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def drop_to_results(source: Path, preset: str, work: Path) -> dict[str, float]:
    """One `reeldrop run` on a fresh home: wall, client CPU (the CLI, its ffmpeg and the built-in server with
    its worker's ffmpeg: all children) and the time each stage began, from the start."""
    home, out = work / "home", work / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELDROP_")}
    env.update(REELDROP_HOME=str(home), PYTHONPATH=str(ROOT))
    seen: dict[str, float] = {}
    done = threading.Event()
    start = time.perf_counter()

    def watch() -> None:
        while not done.is_set():
            stage = _stage(home)
            if stage and stage not in seen:
                seen[stage] = time.perf_counter() - start
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    cpu = child_cpu()
    finished = subprocess.run(
        [sys.executable, "-m", "app.cli", "run", str(source), "--preset", preset, "--download", str(out), "--json"],
        env=env, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    wall = time.perf_counter() - start
    done.set()
    watcher.join(1)
    result = json.loads(finished.stdout.strip().splitlines()[-1]) if finished.stdout.strip() else {}
    if finished.returncode != 0 or result.get("stage") != "done":
        raise SystemExit(f"the run did not finish: {result or finished.stderr[-2000:]}")
    seen.setdefault("done", wall)
    figures = {"wall": wall, "cpu": child_cpu() - cpu}
    # A stage shorter than the 0.1 s poll may go unseen: each seen stage lasts until the next one seen.
    ordered = sorted((at, stage) for stage, at in seen.items() if stage in STAGES)
    for (at, stage), (next_at, _) in itertools.pairwise(ordered):
        figures[stage] = next_at - at
    return figures


def own_rendition_both_ways(source: Path, preset_name: str, work: Path) -> dict[str, float]:
    """The server's step on the app's encode: remuxed (now) and encoded again (before)."""
    preset = get_preset(preset_name)
    quality = preset.own_quality
    if quality is None:
        raise SystemExit(f"preset {preset_name} has no rendition of its own")
    encoded = compress(source, work / "upload.mp4", preset_name, fragmented=True).path
    info = probe(encoded)
    ctx = StepContext(encoded, info, work, threading.Event(), None, 3600.0)  # an Event is a CancelToken
    figures: dict[str, float] = {"upload_mb": encoded.stat().st_size / 1e6}

    cpu, start = child_cpu(), time.perf_counter()
    facts = make_rendition(ctx, quality, work / "remuxed.mp4", lambda _p: None)
    figures["remux_wall"], figures["remux_cpu"] = time.perf_counter() - start, child_cpu() - cpu
    if not facts["remuxed"]:
        raise SystemExit(f"the {quality} rendition of the {preset_name} encode was not remuxed: {facts}")

    plan = plan_output(rendition_preset(quality), info)
    cpu, start = child_cpu(), time.perf_counter()
    _encode(ctx, plan, work / "encoded.mp4", lambda _p: None)
    figures["encode_wall"], figures["encode_cpu"] = time.perf_counter() - start, child_cpu() - cpu
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--preset", default="1080p")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "reeldrop-bench-cache")
    args = parser.parse_args()
    source = make_source(args.cache_dir, args.seconds, args.size)
    load = os.getloadavg()[0]
    print(
        f"machine: {os.cpu_count()} cores, load {load:.2f}; source {args.seconds} s {args.size}, preset {args.preset}"
    )

    runs, steps = [], []
    for round_number in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory(prefix="reeldrop-drop-") as tmp:
            runs.append(drop_to_results(source, args.preset, Path(tmp)))
        with tempfile.TemporaryDirectory(prefix="reeldrop-rendition-") as tmp:
            steps.append(own_rendition_both_ways(source, args.preset, Path(tmp)))
        run = runs[-1]
        parts = ", ".join(f"{stage} {run[stage]:.1f} s" for stage in STAGES[:-1] if stage in run)
        print(f"round {round_number}: drop -> results {run['wall']:.1f} s (client CPU {run['cpu']:.1f} s): {parts}")

    def median(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(row[key] for row in rows if key in row)

    quality = get_preset(args.preset).own_quality
    print()
    print(f"{'':44} {'wall s':>8} {'CPU s':>8}")
    print(f"{'drop -> results (median), now':44} {median(runs, 'wall'):8.1f} {median(runs, 'cpu'):8.1f}")
    for stage in STAGES[:-1]:
        if any(stage in run for run in runs):
            print(f"{'  ' + stage:44} {median(runs, stage):8.1f}")
    for label, key in (("remuxed (now)", "remux"), ("encoded again (before)", "encode")):
        title = f"{quality} rendition, {label}"
        print(f"{title:44} {median(steps, key + '_wall'):8.1f} {median(steps, key + '_cpu'):8.1f}")
    saved = median(steps, "encode_wall") - median(steps, "remux_wall")
    before = median(runs, "wall") + saved
    print(f"drop -> results before (now + the encode it no longer does): {before:.1f} s; saved {saved:.1f} s "
          f"({saved / before * 100:.0f}%); the upload was {median(steps, 'upload_mb'):.1f} MB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
