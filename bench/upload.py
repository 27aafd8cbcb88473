#!/usr/bin/env python3
"""Upload one file with ReelDrop and with its peers (aws s3 cp, s5cmd, boto3) to one local S3 server.

Figures, not pass/fail: wall time, client CPU seconds per GiB and peak RSS of each client process, and
ReelDrop's ratio to the best peer; then the same over a bandwidth-shaped link into a network namespace.
See bench/README.md for what each figure means and its caveats.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from _clients import PEERS, versions
from _datafile import default_cache_dir, human, parse_size, random_file
from _netns import ShapedLink, remove_stale_namespaces, why_not_available
from _report import ratios, render, render_ratios
from _servers import ServerStack
from _suite import Suite

log = logging.getLogger("bench.upload")
NS_S3_PORT = 9000
NS_API_PORT = 8080


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # the same orderly teardown as Ctrl-C


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1G", help="file size for the loopback run (default 1G)")
    parser.add_argument("--shaped-size", default="128M", help="file size for the shaped run (default 128M)")
    parser.add_argument("--shaped-rate", default="50mbit", help="tc rate of the shaped link (default 50mbit)")
    parser.add_argument("--skip-shaped", action="store_true", help="only the loopback run")
    parser.add_argument("--skip-loopback", action="store_true", help="only the shaped run")
    parser.add_argument(
        "--peers", default=",".join(PEERS), help=f"comma-separated peers to compare with (default {','.join(PEERS)})"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per client; the table shows medians")
    parser.add_argument("--cache-dir", type=Path, default=None, help="where the random files are kept and reused")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (server logs, client output)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    return parser


def _peers(text: str) -> list[str]:
    chosen = [p.strip() for p in text.split(",") if p.strip()]
    unknown = sorted(set(chosen) - set(PEERS))
    if unknown:
        raise SystemExit(f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(PEERS)}")
    return chosen


def _print_settings(results: list[Any]) -> None:
    for r in results:
        if r.settings:
            print(f"  {r.name}: {r.settings}")


def loopback_run(args: argparse.Namespace, work: Path, cache: Path, peers: list[str]) -> dict[str, Any]:
    size = parse_size(args.size)
    print(f"\n== loopback: {human(size)} to moto's S3 server on 127.0.0.1 ==", file=sys.stderr, flush=True)
    path, digest = random_file(cache, size)
    stack = ServerStack(work / "loopback")
    try:
        stack.start()
        suite = Suite(stack, path, size, digest, peers, work / "loopback" / "clients", 120 + size / 5e6, args.repeat)
        results = suite.run()
    finally:
        stack.stop()
    found = ratios(results)
    print(f"\nLoopback: {human(size)} file → moto S3 on 127.0.0.1 (server-bound: compare CPU and RSS, not MB/s)")
    print(render(results))
    print(render_ratios(found))
    _print_settings(results)
    return {"size": size, "results": [r.as_dict() for r in results], "ratios": found}


def shaped_run(args: argparse.Namespace, work: Path, cache: Path, peers: list[str]) -> dict[str, Any]:
    reason = why_not_available()
    if reason:
        print(f"\nShaped run skipped: {reason}. Run as root with iproute2, or pass --skip-shaped.")
        return {"skipped": reason}
    size = parse_size(args.shaped_size)
    removed = remove_stale_namespaces()
    if removed:
        print(f"removed namespaces left by an earlier killed bench: {', '.join(removed)}", file=sys.stderr)
    link = ShapedLink(args.shaped_rate)
    stack: ServerStack | None = None
    try:
        link.open()
        print(
            f"\n== shaped: {human(size)} over {args.shaped_rate} ({link.host_addr} → {link.ns_addr} in "
            f"{link.namespace}) ==",
            file=sys.stderr,
            flush=True,
        )
        path, digest = random_file(cache, size)
        stack = ServerStack(work / "shaped", host=link.ns_addr, launcher=link.launcher)
        stack.s3_port, stack.api_port = NS_S3_PORT, NS_API_PORT
        stack.start()
        timeout = 120 + 3 * size / link.rate_bytes
        suite = Suite(stack, path, size, digest, peers, work / "shaped" / "clients", timeout, args.repeat, link)
        results = suite.run()
        qdisc, mtu, ceiling = link.qdisc_stats(), link.mtu(), link.tcp_ceiling()
    finally:
        if stack is not None:
            stack.stop()
        link.close()
    print(f"\nShaped: {human(size)} file over a {args.shaped_rate} tbf link ({link.rate_bytes / 1e6:.2f} MB/s)")
    print(render(results, link.rate_bytes))
    print(
        f"wall/link = file bytes / wall time / link rate (includes process start-up and the API calls); "
        f"steady/link = the same between 1% and 99% of the bytes on the link. One TCP stream's payload can "
        f"reach at most {100 * ceiling:.1f}% of a tbf rate (MTU {mtu}: headers are counted by tbf)."
    )
    _print_settings(results)
    return {
        "size": size,
        "rate": args.shaped_rate,
        "link_bytes_per_s": link.rate_bytes,
        "tcp_payload_ceiling": ceiling,
        "mtu": mtu,
        "qdisc": qdisc,
        "results": [r.as_dict(link.rate_bytes) for r in results],
        "ratios": ratios(results),
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    peers = _peers(args.peers)
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # Even when started with SIGINT ignored (a background job of a script), Ctrl-C/kill -INT must tear down.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    cache = args.cache_dir or default_cache_dir()
    work = Path(tempfile.mkdtemp(prefix="reeldrop-bench-"))
    report: dict[str, Any] = {"versions": versions()}
    print("versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()))
    code = 0
    try:
        if not args.skip_loopback:
            report["loopback"] = loopback_run(args, work, cache, peers)
        if not args.skip_shaped:
            report["shaped"] = shaped_run(args, work, cache, peers)
    except KeyboardInterrupt:
        print("\ninterrupted: the servers, clients and test network the bench started are gone", file=sys.stderr)
        code = 130
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"\nbench setup failed: {exc}", file=sys.stderr)
        code = 2
    finally:
        if args.keep:
            print(f"work dir kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    failed = [
        f"{run}:{r['client']}"
        for run in ("loopback", "shaped")
        for r in report.get(run, {}).get("results", [])
        if r["status"] == "failed"
    ]
    if failed and code == 0:
        print(f"\nsome clients failed: {', '.join(failed)}", file=sys.stderr)
        code = 1
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
