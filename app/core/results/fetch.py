"""Fetch a job's results: download the ZIP (resumable, verified), unpack it into a folder of its own, tidy up.

The one place for this use case: the pipeline's last stage, the Jobs tab's "Download results" and
``reeldrop download`` all come here, so the three name folders the same way and behave the same way when run
twice. The ZIP waits in ``cache/results/KEY.zip`` (a later try resumes it). The folder is named after the
file: ``parent/holiday``, else ``parent/holiday (2)``…; earlier results are never overwritten, and a ZIP
whose results a folder already holds in full (a run killed after unpacking, a second download of the same
job) is not unpacked a second time beside them.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from app.core.api import checked_job_id
from app.core.results.download import ResultsDownloader, ResultsUrlProvider
from app.core.results.extract import already_extracted, extract_results
from app.core.results.model import UrlSource
from app.core.transfer.control import TransferControl
from app.core.transfer.progress import FileProgress
from app.core.transfer.throttle import Throttle

log = logging.getLogger(__name__)

_NOT_IN_A_FOLDER_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')
MAX_STEM = 80
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")  # ".mp4", not the ".2 final" of a title "v1.2 final"


def results_stem(name: str) -> str:
    """The folder name for the results of ``name`` ("holiday.mp4" -> "holiday"): safe on every file system,
    whoever chose the name (a job's title comes from the server)."""
    if _EXTENSION.search(name):
        name = name.rsplit(".", 1)[0]
    stem = _NOT_IN_A_FOLDER_NAME.sub("_", name)
    return stem[:MAX_STEM].strip(" .") or "results"


def folders_named(parent: Path, stem: str) -> list[Path]:
    """`parent/stem`, `parent/stem (2)`… as far as they exist and hold something: where earlier results are."""
    found, candidate, number = [], parent / stem, 2
    while candidate.exists() and any(candidate.iterdir()):
        found.append(candidate)
        candidate = parent / f"{stem} ({number})"
        number += 1
    return found


def free_folder(parent: Path, stem: str) -> Path:
    """`parent/stem`, or `parent/stem (2)`… when that name is taken: earlier results are never overwritten."""
    taken = folders_named(parent, stem)
    return parent / (stem if not taken else f"{stem} ({len(taken) + 1})")


class ResultsFetch:
    """One fetch of one job's results into ``parent``. ``run()`` once; ``progress()`` from any thread."""

    def __init__(
        self,
        url_source: UrlSource,
        zip_path: Path,
        parent: Path,
        name: str,
        *,
        control: TransferControl | None = None,
        throttle: Throttle | None = None,
        label: str | None = None,
    ) -> None:
        self.zip_path = zip_path
        self.parent = parent
        self.stem = results_stem(name)
        self.label = label or name  # how the log names the file
        self._control = control
        self._downloader = ResultsDownloader(url_source, zip_path, control=control, throttle=throttle)

    def progress(self) -> FileProgress | None:
        return self._downloader.progress()

    def run(self) -> Path:
        """Download, verify (size + SHA-256) and unpack; the folder that holds the results. The ZIP is
        removed once they are unpacked; on an error it stays for the next try to resume."""
        self.zip_path.parent.mkdir(parents=True, exist_ok=True)
        downloaded = self._downloader.run()
        target = already_extracted(downloaded.path, folders_named(self.parent, self.stem))
        if target is None:
            target = free_folder(self.parent, self.stem)
            extract_results(downloaded.path, target, control=self._control)
        else:
            log.info("%s: the results were already extracted into %s", self.label, target)
        self.zip_path.unlink(missing_ok=True)
        return target


def fetch_results(client: ResultsUrlProvider, job_id: str, name: str, parent: Path, cache_dir: Path) -> Path:
    """Fetch the results of job ``job_id`` into ``parent``, in a folder named after ``name``; blocking. The id
    may come from a server or a user: it must have the UUID shape before it names the cached ZIP."""
    job_id = checked_job_id(job_id)
    zip_path = cache_dir / "results" / f"{job_id}.zip"
    return ResultsFetch(lambda: client.results_url(job_id), zip_path, parent, name).run()
