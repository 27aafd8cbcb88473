"""Download one job's results from the Jobs tab: the core's resumable, verified download, then its safe
extraction into the output folder. Blocking; the Jobs tab runs it through the bridge."""

from __future__ import annotations

import re
from pathlib import Path

from app.core.api import BackendClient, checked_job_id
from app.core.results.download import download_results
from app.core.results.extract import extract_results

_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')


def results_folder_name(name: str, job_id: str) -> str:
    """ "holiday.mp4 results (1a2b3c4d)": readable, unique per job, safe on every file system."""
    stem = _UNSAFE.sub("_", Path(name).stem).strip(" .") or "job"
    return f"{stem[:80]} results ({job_id[:8]})"


def fetch_job_results(client: BackendClient, job_id: str, name: str, output_folder: Path, cache_dir: Path) -> Path:
    """Download, verify (size + SHA-256) and unpack the results ZIP of `job_id`; returns the folder."""
    job_id = checked_job_id(job_id)  # it comes from the server, and names a file and a folder below
    zip_path = cache_dir / "results" / f"{job_id}.zip"
    download_results(client, job_id, zip_path)  # resumes a partial download left by an earlier try
    target = output_folder / results_folder_name(name, job_id)
    extract_results(zip_path, target, overwrite=True)
    zip_path.unlink(missing_ok=True)
    return target
