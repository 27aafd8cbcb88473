"""`reeldrop upload FILE…`: upload files straight to S3 through the backend's presigned URLs.

Exit status: 0 when every file was uploaded, 1 when any failed (each failure is one line naming the
file and the cause; the other files go on), 2 for bad options, 130 on Ctrl-C (after the journal is
saved: running the same command again resumes). ``--json`` prints one JSON object per file.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path
from typing import Any

from app.commands.common import connect_signed_in, error, human_bytes, parse_size
from app.commands.progress_bar import ProgressBar
from app.core import paths
from app.core.settings import load_settings
from app.core.transfer.engine import DEFAULT_STALL_TIMEOUT, UploadEngine
from app.core.transfer.handle import UploadError, UploadHandle
from app.core.transfer.journal import Journal, JournalError

log = logging.getLogger(__name__)

JOURNAL_FILENAME = "journal.sqlite3"
REFRESH_SECONDS = 0.2
EXIT_INTERRUPTED = 130


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("upload", help="upload files to S3 through the ReelDrop backend")
    parser.add_argument("files", nargs="*", metavar="FILE", help="video or audio files")
    parser.add_argument("--server", metavar="URL", help="backend URL (default: REELDROP_SERVER or the profile)")
    parser.add_argument("--concurrency", type=int, metavar="N", help="connections shared by all files")
    parser.add_argument("--limit-rate", type=_size, metavar="RATE", help="bandwidth limit per second, e.g. 20M")
    parser.add_argument("--part-size", type=_size, metavar="SIZE", help="preferred multipart part size, e.g. 16M")
    parser.add_argument(
        "--stall-timeout", type=float, default=DEFAULT_STALL_TIMEOUT, metavar="S", help="retry a part idle this long"
    )
    parser.add_argument("--resume", action="store_true", help="also resume every unfinished upload in the journal")
    parser.add_argument("--json", action="store_true", help="print one JSON object per file, no progress bar")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def journal_path() -> Path:
    return paths.app_paths().data / JOURNAL_FILENAME


def run(args: argparse.Namespace) -> int:
    if not args.files and not args.resume:
        error("give at least one FILE (or --resume)")
        return 2
    settings = load_settings()
    concurrency = args.concurrency or settings.concurrency
    if concurrency < 1:
        error("--concurrency must be at least 1")
        return 2
    limit = args.limit_rate if args.limit_rate is not None else settings.bandwidth_limit
    part_size = args.part_size or (settings.part_size_mib * 1024 * 1024 if settings.part_size_mib else None)
    with connect_signed_in(args.server, settings) as connection:
        try:
            journal = Journal.open(journal_path())
        except JournalError as exc:
            error(str(exc))
            return 1
        with journal:
            engine = UploadEngine(
                connection.client,
                journal,
                concurrency=concurrency,
                bandwidth_limit=limit or None,
                part_size=part_size,
                stall_timeout=args.stall_timeout,
                backend_id=connection.backend_id,
            )
            return _upload_all(engine, args)


def _upload_all(engine: UploadEngine, args: argparse.Namespace) -> int:
    show_bar = not (args.json or args.no_progress) and sys.stderr.isatty()
    bar = ProgressBar(show_bar)
    reported: set[int] = set()
    failed = 0
    try:
        handles = [engine.submit(path) for path in args.files]
        if args.resume:
            handles += engine.resume_unfinished()
        handles = list(dict.fromkeys(handles))  # a file named twice is one upload
        pending = {handle.future: handle for handle in handles}
        while pending:
            done, _ = wait(list(pending), timeout=REFRESH_SECONDS, return_when=FIRST_COMPLETED)
            for future in done:
                handle = pending.pop(future)
                if handle.file_id not in reported:
                    reported.add(handle.file_id)
                    failed += not _report(handle, args.json, bar)
            bar.update(engine.snapshot(), len(handles) - len(pending), len(handles))
    except KeyboardInterrupt:
        bar.close()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the journal short
        print("reeldrop: interrupted; saving the journal… run the same command again to resume", file=sys.stderr)
        engine.shutdown()
        for handle in engine.handles:
            if handle.file_id not in reported and args.json:
                reported.add(handle.file_id)
                _report(handle, True, bar)
        return EXIT_INTERRUPTED
    finally:
        bar.close()
        engine.shutdown()
    return 1 if failed else 0


def result_record(handle: UploadHandle) -> dict[str, Any]:
    """The --json object for one file (the bench and scripts read these)."""
    record: dict[str, Any] = {
        "path": str(handle.path),
        "upload_id": handle.upload_id,
        "s3_key": None,
        "size": handle.size,
        "sha256": None,
        "method": None,
        "seconds": None,
        "parts": None,
        "parts_reused": 0,
        "bytes_sent": None,
        "integrity": None,
        "error": None,
    }
    try:
        result = handle.result(timeout=0)
    except UploadError as exc:
        record["error"] = str(exc)
        return record
    except TimeoutError:
        record["error"] = f"{handle.path}: not finished"
        return record
    record.update(
        upload_id=result.upload_id,
        s3_key=result.s3_key,
        size=result.size,
        sha256=result.sha256,
        method=result.method,
        seconds=round(result.seconds, 3),
        parts=result.part_count,
        parts_reused=result.parts_reused,
        bytes_sent=result.bytes_sent,
        integrity=result.integrity,
    )
    return record


def _report(handle: UploadHandle, as_json: bool, bar: ProgressBar) -> bool:
    record = result_record(handle)
    if as_json:
        print(json.dumps(record), flush=True)
    elif record["error"]:
        bar.write(f"reeldrop: error: {record['error']}", sys.stderr)
    else:
        rate = record["size"] / record["seconds"] if record["seconds"] else 0.0
        resumed = f", resumed: {record['parts_reused']} of {record['parts']} parts were stored already"
        bar.write(
            f"uploaded {record['path']} -> {record['s3_key']} ({human_bytes(record['size'])} in"
            f" {record['seconds']:.1f} s, {human_bytes(rate)}/s{resumed if record['parts_reused'] else ''})"
            f"\n  checked: {record['integrity']}",
            sys.stdout,
        )
    return record["error"] is None
