"""`reeldrop uploads`: what the upload journal holds (unfinished uploads resume on the next run)."""

from __future__ import annotations

import argparse
import json
import math
import time

from app.commands.common import error, human_bytes
from app.commands.upload import journal_path
from app.core.transfer.journal import Journal, JournalEntry, JournalError, UploadState


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("uploads", help="list the uploads the journal holds")
    parser.add_argument("--state", choices=[state.value for state in UploadState], help="only uploads in this state")
    parser.add_argument("--json", action="store_true", help="one JSON object per upload")
    parser.set_defaults(run=run)


def _parts(entry: JournalEntry) -> tuple[int, int]:
    if entry.part_size <= 0:  # a single presigned POST
        return (1 if entry.state is UploadState.COMPLETED else 0), 1
    return len(entry.parts), math.ceil(entry.size / entry.part_size)


def run(args: argparse.Namespace) -> int:
    path = journal_path()
    if not path.exists():
        if not args.json:
            print(f"No uploads yet (no journal at {path}).")
        return 0
    try:
        with Journal.open(path) as journal:
            entries = journal.list(state=UploadState(args.state) if args.state else None)
    except JournalError as exc:
        error(str(exc))
        return 1
    for entry in entries:
        done, total = _parts(entry)
        if args.json:
            record = {
                "upload_id": entry.upload_id,
                "path": entry.path,
                "state": entry.state.value,
                "size": entry.size,
                "s3_key": entry.s3_key,
                "server": entry.backend or None,
                "parts_done": done,
                "parts": total,
                "sha256": entry.sha256,
                "error": entry.error,
                "updated_at": entry.updated_at,
            }
            print(json.dumps(record))
            continue
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.updated_at))
        line = f"{entry.state.value:<10} {when}  {human_bytes(entry.size):>10}  parts {done}/{total}  {entry.path}"
        if entry.error:
            line += f"  ({entry.error})"
        print(line)
    if not entries and not args.json:
        print("The journal holds no uploads" + (f" in state {args.state}." if args.state else "."))
    return 0
