"""`reeldrop jobs` lists the account's processing jobs; `reeldrop download JOB_ID [DIR]` fetches results."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.commands.common import connect_signed_in, error, human_bytes
from app.core import paths
from app.core.api import BackendError, BadJobId, checked_job_id
from app.core.jobs import job_name
from app.core.results.fetch import fetch_results
from app.core.results.model import ResultsDownloadError
from app.core.results.zipcheck import ZipExtractError
from app.core.settings import load_settings


def add_parsers(commands: argparse._SubParsersAction) -> None:
    jobs = commands.add_parser("jobs", help="list your processing jobs, newest first")
    jobs.add_argument("--server", metavar="URL")
    jobs.add_argument("--limit", type=int, default=20, metavar="N")
    jobs.add_argument("--json", action="store_true")
    jobs.set_defaults(run=list_jobs)
    download = commands.add_parser("download", help="download and unpack a finished job's results")
    download.add_argument("job_id", metavar="JOB_ID")
    download.add_argument("folder", nargs="?", type=Path, metavar="DIR", help="default: the settings' output folder")
    download.add_argument("--server", metavar="URL")
    download.set_defaults(run=download_job)


def list_jobs(args: argparse.Namespace) -> int:
    with connect_signed_in(args.server, load_settings()) as connection:
        page = connection.client.jobs(limit=max(1, min(args.limit, 100)))
    if args.json:
        print(json.dumps(page["jobs"], indent=2))
        return 0
    if not page["jobs"]:
        print("no jobs yet")
        return 0
    print(f"{'JOB':36}  {'STATUS':10}  {'DONE':>4}  {'RESULTS':>10}  CREATED")
    for job in page["jobs"]:
        size = human_bytes(job["result"]["zip_size"]) if job.get("result") else "-"
        print(f"{job['job_id']:36}  {job['status']:10}  {job['progress']:3d}%  {size:>10}  {job['created_at']}")
    if page["total"] > len(page["jobs"]):
        print(f"… {page['total'] - len(page['jobs'])} older jobs (use --limit)")
    return 0


def download_job(args: argparse.Namespace) -> int:
    settings = load_settings()
    folder = (args.folder or settings.output_folder).expanduser().absolute()
    try:
        job_id = checked_job_id(args.job_id)  # it names a file and a folder below
    except BadJobId as exc:
        error(exc.detail)
        return 2
    try:
        with connect_signed_in(args.server, settings) as connection:
            name = job_name(connection.client.job(job_id))
            unpacked = fetch_results(connection.client, job_id, name, folder, paths.app_paths().cache)
    except BackendError as exc:
        error(f"job {args.job_id}: {exc.detail}")
        return 1
    except (ResultsDownloadError, ZipExtractError, OSError) as exc:
        error(f"job {args.job_id}: {exc}")
        return 1
    files = [entry.stat().st_size for entry in unpacked.rglob("*") if entry.is_file()]
    print(f"{len(files)} files ({human_bytes(sum(files))}) in {unpacked}")
    return 0
