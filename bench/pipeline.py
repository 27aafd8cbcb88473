#!/usr/bin/env python3
"""Compress + upload, one after the other vs overlapped (compress-while-upload), over a shaped link.

The real pipeline (app.core.pipeline.driver.open_pipeline) takes one clip to a preset and uploads it to a
ReelDrop server and moto S3 running inside a network namespace behind a ``tc tbf`` link. Each run is
timed from "added" to "the job exists" (compress + upload + complete); the job is then cancelled so the
server's processing never competes with the next run's encode.

1. A calibration run, one after the other, on a fast link: how long the encode takes and how big it is.
2. The link is set so that uploading the encode takes about as long as encoding it ("comparable"), unless
   ``--rate`` names a rate.
3. ``--repeat`` pairs of runs on that link: sequential (upload_while_compressing off), then overlapped.

Printed: encode alone and upload alone (from the sequential runs), both totals, and the overlapped total
against max(encode, upload) — the issue's target is within 15% of it. Needs root (namespaces, tc).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from _datafile import default_cache_dir
from _netns import ShapedLink, remove_stale_namespaces, why_not_available
from _servers import ServerStack

from app.core.api import BackendClient
from app.core.media.ffmpeg import find_ffmpeg
from app.core.paths import app_paths
from app.core.pipeline.driver import open_pipeline
from app.core.pipeline.model import Stage
from app.core.settings import Settings

log = logging.getLogger("bench.pipeline")
NS_S3_PORT, NS_API_PORT = 9000, 8080
CALIBRATION_RATE = "1000mbit"
POLL_S = 0.02
# The job is cancelled at once; these keep what it would do small anyway.
JOB_OPTIONS = {"renditions": ["240p"], "audio": False, "clips": {"count": 0}, "thumbnails": 1}


@dataclass
class Run:
    mode: str
    rate: str
    encode_s: float  # added → compress stage over
    total_s: float  # added → upload complete and job created
    size: int
    cpu_s: float  # this process and its children (ffmpeg): user + system
    sent_during_encode: int = 0  # bytes the pipeline reported uploaded before the encode ended
    streamed: bool = False  # the server's record says the upload was sent while the file was written

    @property
    def upload_s(self) -> float:
        return self.total_s - self.encode_s


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60, help="length of the generated source clip (default 60)")
    parser.add_argument("--preset", default="720p", help="preset to compress to (default 720p)")
    parser.add_argument("--rate", default="auto", help="tc rate of the link, or auto: upload time = encode time")
    parser.add_argument("--repeat", type=int, default=1, help="sequential/overlapped pairs (medians shown)")
    parser.add_argument("--concurrency", type=int, default=4, help="parallel part uploads (default 4)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="where the generated clip is kept")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (server logs)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    parser.add_argument(
        "--stream-small", action="store_true", help="stream even encodes expected under two parts (smoke test)"
    )
    return parser


def source_clip(cache: Path, seconds: int) -> Path:
    """A 720p clip with moving noise: it compresses like camera footage (testsrc2 alone would be tiny)."""
    path = cache / f"pipeline-noise-720p-{seconds}s.mp4"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.mp4")
    argv = [find_ffmpeg().ffmpeg, "-hide_banner", "-loglevel", "error", "-y"]
    argv += ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440"]
    argv += ["-vf", "noise=alls=30:allf=t", "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast"]
    argv += ["-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac", str(partial)]
    print(f"making a {seconds} s source clip in {path}", file=sys.stderr, flush=True)
    subprocess.run(argv, check=True, timeout=60 + 10 * seconds)
    partial.rename(path)
    return path


def mb(size: float) -> str:
    return f"{size / 1e6:.1f} MB"


def _cpu() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def run_once(stack: ServerStack, clip: Path, work: Path, args: argparse.Namespace, overlap: bool, rate: str) -> Run:
    home = Path(tempfile.mkdtemp(prefix="home-", dir=work))
    settings = Settings(
        output_folder=home / "out",
        concurrency=args.concurrency,
        default_preset=args.preset,
        upload_while_compressing=overlap,
    )
    client = BackendClient(stack.api_url, stack.token)
    pipeline = open_pipeline(
        client, settings, app_paths({"REELDROP_HOME": str(home)}), stack.api_url, job_options=JOB_OPTIONS
    )
    mode = "overlapped" if overlap else "sequential"
    if args.stream_small:
        pipeline._runner.streams.min_bytes = 0  # type: ignore[attr-defined]
    try:
        cpu_before, started = _cpu(), time.monotonic()
        [item_id] = pipeline.add([clip], preset=args.preset)
        encoded_at: float | None = None
        sent = 0
        deadline = started + 120 + 40 * args.seconds
        while time.monotonic() < deadline:
            snap = pipeline.snapshot()[0]
            now = time.monotonic()
            if encoded_at is None and snap.stage not in (Stage.WAITING, Stage.COMPRESSING):
                encoded_at = now
            if snap.stage is Stage.COMPRESSING and snap.sent_while_compressing:
                sent = max(sent, snap.sent_while_compressing)
            if snap.stage in (Stage.FAILED, Stage.CANCELLED):
                raise RuntimeError(f"{mode} run failed: {snap.error}")
            if snap.stage in (Stage.PROCESSING, Stage.DOWNLOADING, Stage.DONE):
                break
            time.sleep(POLL_S)
        else:
            raise RuntimeError(f"{mode} run did not finish in time")
        total, cpu = now - started, _cpu() - cpu_before
        record = pipeline.record(item_id)
        pipeline.cancel(item_id)  # the server stops processing: the next run's encode has the CPU alone
        assert encoded_at is not None
        streamed = bool(client.upload(record.upload_id or "").get("streaming"))
        return Run(mode, rate, encoded_at - started, total, int(record.compressed_size or 0), cpu, sent, streamed)
    finally:
        pipeline.shutdown()
        shutil.rmtree(home, ignore_errors=True)


def _auto_rate(calibration: Run) -> str:
    """The tc rate at which uploading the encode takes as long as encoding it (payload ≈ 95% of tbf)."""
    bits = calibration.size * 8 / calibration.encode_s / 0.95
    return f"{max(1, round(bits / 1e5)) * 100}kbit"


def _median(runs: list[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)  # fields and the upload_s property alike


def report(sequential: list[Run], overlapped: list[Run], rate: str) -> dict[str, Any]:
    encode, upload = _median(sequential, "encode_s"), _median(sequential, "upload_s")
    seq_total, ovl_total = _median(sequential, "total_s"), _median(overlapped, "total_s")
    bound = max(encode, upload)
    figures = {
        "rate": rate,
        "encode_alone_s": encode,
        "upload_alone_s": upload,
        "sequential_total_s": seq_total,
        "overlapped_total_s": ovl_total,
        "overlapped_vs_max": ovl_total / bound,
        "overlapped_vs_sequential": ovl_total / seq_total,
        "encode_during_overlap_s": _median(overlapped, "encode_s"),
        "size_sequential": int(_median(sequential, "size")),
        "size_overlapped": int(_median(overlapped, "size")),
        "cpu_sequential_s": _median(sequential, "cpu_s"),
        "cpu_overlapped_s": _median(overlapped, "cpu_s"),
        "sent_during_encode": int(_median(overlapped, "sent_during_encode")),
    }
    if not all(run.streamed for run in overlapped):
        print("\nWARNING: an overlapped run did not stream (the encode was expected too small): use a longer clip")
    print(f"\nCompress + upload over a {rate} tbf link (medians of {len(sequential)} pair(s))")
    print(f"  encode alone            {encode:7.1f} s   ({mb(figures['size_sequential'])} out)")
    print(f"  upload alone            {upload:7.1f} s")
    print(f"  sequential total        {seq_total:7.1f} s   CPU {figures['cpu_sequential_s']:.1f} s")
    print(
        f"  overlapped total        {ovl_total:7.1f} s   CPU {figures['cpu_overlapped_s']:.1f} s"
        f"   (encode itself {figures['encode_during_overlap_s']:.1f} s, {mb(figures['size_overlapped'])} out,"
        f" {mb(figures['sent_during_encode'])} of it uploaded before the encode ended)"
    )
    print(
        f"  overlapped / max(encode, upload) = {figures['overlapped_vs_max']:.3f}  (target ≤ 1.15)"
        f"   overlapped / sequential = {figures['overlapped_vs_sequential']:.3f}"
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    reason = why_not_available()
    if reason:
        print(f"bench/pipeline.py needs a shaped link: {reason}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    clip = source_clip(args.cache_dir or default_cache_dir(), args.seconds)
    work = Path(tempfile.mkdtemp(prefix="reeldrop-bench-pipeline-"))
    remove_stale_namespaces()
    link = ShapedLink(CALIBRATION_RATE)
    stack: ServerStack | None = None
    result: dict[str, Any] = {}
    code = 0
    try:
        link.open()
        stack = ServerStack(work / "servers", host=link.ns_addr, launcher=link.launcher)
        stack.s3_port, stack.api_port = NS_S3_PORT, NS_API_PORT
        stack.start()
        print(f"calibrating: {args.preset} of {clip.name}, one after the other", file=sys.stderr, flush=True)
        calibration = run_once(stack, clip, work, args, overlap=False, rate=CALIBRATION_RATE)
        rate = _auto_rate(calibration) if args.rate == "auto" else args.rate
        print(
            f"encode {calibration.encode_s:.1f} s → {mb(calibration.size)}; link set to {rate}",
            file=sys.stderr,
            flush=True,
        )
        link.set_rate(rate)
        sequential, overlapped = [], []
        for number in range(args.repeat):
            for overlap, runs in ((False, sequential), (True, overlapped)):
                print(f"pair {number + 1}: {'overlapped' if overlap else 'sequential'}…", file=sys.stderr, flush=True)
                runs.append(run_once(stack, clip, work, args, overlap=overlap, rate=rate))
        result = {
            "calibration": asdict(calibration),
            "runs": [asdict(r) for r in sequential + overlapped],
            "figures": report(sequential, overlapped, rate),
        }
    except KeyboardInterrupt:
        print("\ninterrupted: the servers and the test network are gone", file=sys.stderr)
        code = 130
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
        print(f"\nbench failed: {exc}", file=sys.stderr)
        code = 2
    finally:
        if stack is not None:
            stack.stop()
        link.close()
        if args.keep:
            print(f"work dir kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json and result:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
