"""`reeldrop run FILE… --preset 720p [--download DIR]`: compress, upload, process, fetch the results.

Every stage is journaled: run the same command again after a quit or a crash and each file continues
where it stopped (no re-encode of an intact compressed file, no re-upload of stored parts, no
re-download of received bytes). Exit status: 0 when every file ended Done, 1 otherwise, 2 for bad
options, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from app.commands.common import connect_signed_in, error, human_bytes, parse_size
from app.core import paths
from app.core.media.presets import PresetError, default_catalog
from app.core.pipeline.driver import Pipeline, open_pipeline
from app.core.pipeline.model import ItemSnapshot, Stage
from app.core.settings import load_settings

REFRESH_SECONDS = 0.5
EXIT_INTERRUPTED = 130


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("run", help="compress, upload and process files, then download the results")
    parser.add_argument("files", nargs="+", metavar="FILE", help="video or audio files, or folders of them")
    parser.add_argument("--preset", help=f"one of {', '.join(default_catalog().names())} (default: settings)")
    parser.add_argument("--download", metavar="DIR", type=Path, help="results folder (default: settings)")
    parser.add_argument("--server", metavar="URL", help="backend URL (default: REELDROP_SERVER or the profile)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per file when it ends")
    parser.add_argument(
        "--limit-rate", type=_size, metavar="RATE", help="bandwidth limit per second for uploads and downloads, e.g. 2M"
    )
    parser.set_defaults(run=run)


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    preset = args.preset or settings.default_preset
    try:
        default_catalog().get(preset)
    except PresetError as exc:
        error(str(exc))
        return 2
    if args.download is not None:
        settings = settings.with_changes(output_folder=args.download.expanduser().absolute())
    if args.limit_rate:
        settings = settings.with_changes(bandwidth_limit=args.limit_rate)
    with connect_signed_in(args.server, settings) as connection:
        pipeline = open_pipeline(
            connection.client,
            settings.with_changes(start_on_add=True),
            paths.app_paths(),
            connection.backend_id,
            download_limit=args.limit_rate or None,
        )
        try:
            ids = queue_files(pipeline, [Path(f) for f in args.files], preset)
            return _follow(pipeline, ids, args.json)
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            print("reeldrop: interrupted; run the same command again to continue", file=sys.stderr)
            return EXIT_INTERRUPTED
        finally:
            pipeline.shutdown()


def queue_files(pipeline: Pipeline, files: list[Path], preset: str) -> list[str]:
    """Continue the unfinished items these files already have in the queue; add the others."""
    unfinished = {
        (record.source, record.preset): record.item_id
        for record in pipeline.records()
        if record.stage is not Stage.DONE
    }
    ids, fresh = [], []
    for path in files:
        item_id = unfinished.get((path.absolute(), preset))
        if item_id is None:
            fresh.append(path.absolute())
        else:
            pipeline.continue_item(item_id)
            ids.append(item_id)
    return ids + pipeline.add(fresh, preset=preset)


def _follow(pipeline: Pipeline, ids: list[str], as_json: bool) -> int:
    reported: set[str] = set()
    last_line: dict[str, str] = {}
    while len(reported) < len(ids):
        by_id = {snap.item_id: snap for snap in pipeline.snapshot()}
        for item_id in ids:
            snap = by_id[item_id]
            if item_id in reported:
                continue
            if snap.stage.finished or snap.stage is Stage.PAUSED:
                reported.add(item_id)
                _report(snap, as_json)
            elif not as_json:
                line = _status_line(snap)
                if line != last_line.get(item_id):
                    last_line[item_id] = line
                    print(line, file=sys.stderr, flush=True)
        time.sleep(REFRESH_SECONDS)
    finals = [s for s in pipeline.snapshot() if s.item_id in ids]
    return 0 if all(s.stage is Stage.DONE for s in finals) else 1


def _status_line(snap: ItemSnapshot) -> str:
    if snap.queued:
        return f"{snap.source.name}: Queued"
    percent = f"{snap.stage_fraction * 100:3.0f}%"
    rate = f" {human_bytes(snap.rate)}/s" if snap.rate else ""
    eta = f" ~{snap.eta:.0f}s left" if snap.eta is not None else ""
    sent = f", {human_bytes(snap.sent_while_compressing)} uploaded so far" if snap.sent_while_compressing else ""
    return f"{snap.source.name}: {snap.stage.label} {percent}{rate}{eta}{sent}"


def _report(snap: ItemSnapshot, as_json: bool) -> None:
    if as_json:
        record = {
            "path": str(snap.source),
            "stage": snap.stage.value,
            "preset": snap.preset,
            "size_before": snap.size_before,
            "size_after": snap.size_after,
            "encoder": snap.encoder,
            "job_id": snap.job_id,
            "results_dir": str(snap.results_dir) if snap.results_dir else None,
            "error": snap.error,
            "error_type": snap.error_type,
        }
        print(json.dumps(record), flush=True)
    elif snap.stage is Stage.DONE:
        sizes = ""
        if snap.size_before and snap.size_after:
            sizes = f" ({human_bytes(snap.size_before)} -> {human_bytes(snap.size_after)})"
        print(f"done {snap.source.name}{sizes}: results in {snap.results_dir}", flush=True)
    else:
        print(f"reeldrop: error: {snap.error or snap.source.name + ': ' + snap.stage.label}", file=sys.stderr)
