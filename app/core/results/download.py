"""Download a job's results ZIP by presigned GET: resumable, verified, published with one rename.

The bytes stream into ``NAME.zip.part`` beside the destination and are hashed on the way. A broken
connection resumes with ``Range: bytes=N-`` plus ``If-Range: <etag>``; a 200 answer (the storage says the
object changed) or a 206 with another ETag (a store that ignores If-Range) starts over from zero. A URL that
expired mid-download (403) is replaced by a fresh one from ``url_source`` and the download goes on. At the
end the size and SHA-256 must equal the server's figures; then the part file is renamed to the destination.
A later process resumes from the part file and its sidecar (see partial.py), hashing the bytes already
on disk first. A resumed download that fails verification gets one fresh try from zero before the error.

Pause (TransferControl.pause) keeps the part file for a later resume; cancel removes it.
Presigned URLs are logged without their query string.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error

from app.core.api import BackendUnavailable
from app.core.logsafe import redact
from app.core.results.model import (
    DownloadResult,
    ResultsDownloadError,
    ResultsIntegrityError,
    ResultsLocation,
    UrlSource,
    safe_url,
)
from app.core.results.partial import (
    PartialState,
    discard_partial,
    hash_file,
    load_state,
    part_path,
    save_state,
)
from app.core.results.resume import Answer, judge_answer
from app.core.transfer.control import TransferCancelled, TransferControl
from app.core.transfer.progress import FileProgress, TransferTracker
from app.core.transfer.retry import BackoffPolicy, Failure, FailureKind, RetryableTransferError, UploadFailed
from app.core.transfer.throttle import Throttle

log = logging.getLogger(__name__)

__all__ = [
    "DownloadResult",
    "ResultsDownloadError",
    "ResultsDownloader",
    "ResultsIntegrityError",
    "ResultsLocation",
    "ResultsUrlProvider",
    "UrlSource",
    "download_results",
    "safe_url",
]

CHUNK = 256 * 1024
TIMEOUT = (10.0, 60.0)  # the read timeout doubles as stall detection: no byte for 60 s = retry
MAX_ROUNDS = 50  # retry budgets renewed after a round that moved bytes; bounds a link that never settles


class ResultsDownloader:
    """One download of one results ZIP to ``destination``. ``run()`` once; ``progress()`` from any thread."""

    def __init__(
        self,
        url_source: UrlSource,
        destination: Path | str,
        *,
        control: TransferControl | None = None,
        on_progress: Callable[[FileProgress], None] | None = None,
        throttle: Throttle | None = None,
        session: requests.Session | None = None,
        policy: BackoffPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        chunk_size: int = CHUNK,
        timeout: tuple[float, float] = TIMEOUT,
    ) -> None:
        self.destination = Path(destination)
        self._url_source = url_source
        self._control = control or TransferControl()
        self._on_progress = on_progress
        self._throttle = throttle
        self._owns_session = session is None
        self._session = session or _plain_session()
        self._policy = policy or BackoffPolicy()
        self._sleep = sleep
        self._chunk = chunk_size
        self._timeout = timeout
        self._tracker = TransferTracker()
        self._file_id = self.destination.name
        self._location: ResultsLocation | None = None
        self._etag: str | None = None
        self._offset = 0
        self._digest: Any = hashlib.sha256()
        self._received = 0
        self._restarts = 0
        self._refreshes = 0

    # -- public ------------------------------------------------------------------------------------
    def progress(self) -> FileProgress | None:
        return self._tracker.file_snapshot(self._file_id)

    def run(self) -> DownloadResult:
        """Download, verify and publish; returns how it went. Raises ResultsDownloadError (the part file is
        kept for a later resume), ResultsIntegrityError (deleted), TransferCancelled or TransferPaused."""
        try:
            return self._run()
        finally:
            if self._owns_session:
                self._session.close()

    def _run(self) -> DownloadResult:
        self.destination.parent.mkdir(parents=True, exist_ok=True)
        location = self._locate(first=True)
        if self._already_present(location):
            self._tracker.add_file(self._file_id, location.size, location.size)
            self._tracker.finish_file(self._file_id)
            discard_partial(self.destination)
            return DownloadResult(self.destination, location.size, location.sha256, location.size, 0, 0, 0, True)
        try:
            resumed_from = self._open_partial(location)
            try:
                self._download_and_verify()
            except ResultsIntegrityError:
                if resumed_from == 0:
                    raise
                log.warning("%s: the resumed download did not verify; downloading it again whole", self._file_id)
                self._start_over()
                self._download_and_verify()
        except TransferCancelled:
            discard_partial(self.destination)
            raise
        os.replace(part_path(self.destination), self.destination)
        discard_partial(self.destination)
        self._tracker.finish_file(self._file_id)
        location = self._location_now()
        log.info("results saved to %s (%d bytes, sha256 verified)", self.destination, location.size)
        return DownloadResult(
            path=self.destination,
            size=location.size,
            sha256=location.sha256,
            resumed_from=resumed_from,
            bytes_received=self._received,
            restarts=self._restarts,
            url_refreshes=self._refreshes,
        )

    # -- location ----------------------------------------------------------------------------------
    def _location_now(self) -> ResultsLocation:
        assert self._location is not None
        return self._location

    def _locate(self, *, first: bool = False) -> ResultsLocation:
        try:
            location = ResultsLocation.from_answer(self._url_source())
        except ResultsDownloadError as error:
            raise ResultsDownloadError(f"{self.destination.name}: {error}") from error
        if not first:
            self._refreshes += 1
        self._location = location
        log.debug("%s: results at %s (%d bytes)", self._file_id, safe_url(location.url), location.size)
        return location

    def _already_present(self, location: ResultsLocation) -> bool:
        try:
            if self.destination.stat().st_size != location.size:
                return False
        except FileNotFoundError:
            return False
        return hash_file(self.destination)[0].hexdigest() == location.sha256

    # -- the part file -----------------------------------------------------------------------------
    def _open_partial(self, location: ResultsLocation) -> int:
        """Adopt a part file that belongs to these figures (hashing it), else start clean. Returns its size."""
        state, part = load_state(self.destination), part_path(self.destination)
        size = part.stat().st_size if part.exists() else -1
        usable = state is not None and state.etag and state.describes(location.size, location.sha256)
        if not usable or not 0 <= size <= location.size:
            if size > 0:
                log.info("%s: the partial download is not of these results; starting over", self._file_id)
            self._start_over(count=size > 0)
        else:
            assert state is not None
            self._digest, self._offset = hash_file(part)
            self._etag = state.etag
            log.info("%s: resuming at %d of %d bytes", self._file_id, self._offset, location.size)
        self._tracker.add_file(self._file_id, location.size, self._offset)
        return self._offset

    def _start_over(self, *, count: bool = True) -> None:
        # truncate before any new sidecar: a kill in between leaves an empty part, never mixed bytes
        part_path(self.destination).write_bytes(b"")
        self._offset, self._digest, self._etag = 0, hashlib.sha256(), None
        if count:
            self._restarts += 1
        location = self._location_now()
        save_state(self.destination, PartialState(location.size, location.sha256, None))
        self._tracker.remove_file(self._file_id)
        self._tracker.add_file(self._file_id, location.size, 0)

    def _remember_etag(self, etag: str | None) -> None:
        location = self._location_now()
        self._etag = etag
        save_state(self.destination, PartialState(location.size, location.sha256, etag))

    # -- transfer ----------------------------------------------------------------------------------
    def _download_and_verify(self) -> None:
        location = self._location_now()
        free = shutil.disk_usage(self.destination.parent).free
        if location.size - self._offset > free:
            raise ResultsDownloadError(
                f"{self.destination}: not enough free disk space ({location.size - self._offset} bytes"
                f" needed, {free} free)"
            )
        if self._offset < location.size:
            self._fetch_rest()
        self._verify()

    def _fetch_rest(self) -> None:
        """Run attempts until the body is complete. Each round has BackoffPolicy's budgets; a round that
        moved bytes before failing earns a new one (up to MAX_ROUNDS), so a long download over a flaky link
        is not lost to failures spread over hours."""
        rounds = 0
        while True:
            before = self._offset
            try:
                self._policy.call(
                    self._attempt,
                    describe=f"downloading {self.destination.name}",
                    on_resign=self._on_resign,
                    control=self._control,
                    sleep=self._sleep,  # None: BackoffPolicy's sleep, cut short by a cancel
                )
                return
            except UploadFailed as error:
                if isinstance(error.__cause__, TooManyBytes):
                    raise error.__cause__ from None  # not retried: it names the file and says what happened
                if error.failure.kind is FailureKind.RETRY and self._offset > before and rounds < MAX_ROUNDS:
                    rounds += 1
                    continue
                raise ResultsDownloadError(f"{self.destination}: {_download_reason(error)}") from error

    def _on_resign(self, failure: Failure) -> None:
        log.info("%s: the download URL expired (%s); asking for a new one", self._file_id, failure.reason)
        try:
            self._locate()
        except BackendUnavailable as error:  # the backend is down for now: the next attempt re-signs again
            raise RetryableTransferError(str(error)) from error

    def _request_headers(self) -> dict[str, str]:
        headers = dict(self._location_now().headers)
        headers["Accept-Encoding"] = "identity"
        if self._offset > 0:
            headers["Range"] = f"bytes={self._offset}-"
            if self._etag and not self._etag.startswith("W/"):  # If-Range needs a strong validator
                headers["If-Range"] = self._etag
        return headers

    def _attempt(self) -> requests.Response:
        for _ in range(2):  # a second pass only after the object changed under us
            url = self._location_now().url
            response = self._session.get(url, headers=self._request_headers(), stream=True, timeout=self._timeout)
            if response.status_code >= 400 and not (response.status_code == 416 and self._offset > 0):
                return response  # BackoffPolicy classifies it: retry, re-sign or give up
            if self._accept(response):
                self._stream(response)
                return response
            response.close()
        raise RetryableTransferError("the results ZIP kept changing while it was downloaded")

    def _accept(self, response: requests.Response) -> bool:
        """Make the bytes on disk fit the answer's body; False (after a reset) when it must be asked again."""
        etag = response.headers.get("ETag")
        answer = judge_answer(response.status_code, response.headers, self._offset, self._etag)
        if answer is Answer.APPEND:
            return True
        if answer is Answer.FIRST:
            self._remember_etag(etag)
            return True
        was = self._etag
        self._start_over()
        if answer is Answer.WHOLE_SAME:
            log.info("%s: the server ignored the range; taking the whole file again", self._file_id)
            self._remember_etag(etag)
            return True
        log.info("%s: the stored results changed (answer %d, ETag %s, was %s); starting over",
                 self._file_id, response.status_code, etag, was)  # fmt: skip
        self._locate()  # a changed object comes with new figures
        self._tracker.add_file(self._file_id, self._location_now().size, 0)
        if answer is Answer.WHOLE_CHANGED:
            self._remember_etag(etag)
            return True
        return False

    def _stream(self, response: requests.Response) -> None:
        control, stop = self._control, self._control.stop_event
        announced = self._location_now().size
        try:
            with open(part_path(self.destination), "ab") as out:
                try:
                    # raw bytes: a Content-Encoding must not be undone, the hash is of the stored object
                    for chunk in response.raw.stream(self._chunk, decode_content=False):
                        control.raise_if_stopped()
                        if self._offset + len(chunk) > announced:
                            # Not one byte past what the server said: a hostile or broken store would
                            # otherwise fill the disk before the size check at the end.
                            raise TooManyBytes(announced, self.destination)
                        if self._throttle is not None and not self._throttle.acquire(len(chunk), stop):
                            control.raise_if_stopped()
                        out.write(chunk)
                        self._digest.update(chunk)
                        self._offset += len(chunk)
                        self._received += len(chunk)
                        self._tracker.record(self._file_id, 0, len(chunk))
                        if self._on_progress is not None:
                            snapshot = self.progress()
                            if snapshot is not None:
                                self._on_progress(snapshot)
                finally:
                    out.flush()
        except Urllib3Error as error:
            raise RetryableTransferError(
                f"the connection broke at byte {self._offset}: {redact(str(error))}"
            ) from error
        except TooManyBytes:
            discard_partial(self.destination)
            raise
        finally:
            response.close()
        if self._offset < self._location_now().size:
            raise RetryableTransferError(f"the connection ended early, at byte {self._offset}")

    def _verify(self) -> None:
        location, part = self._location_now(), part_path(self.destination)
        with open(part, "rb+") as handle:
            os.fsync(handle.fileno())
        size, sha = part.stat().st_size, self._digest.hexdigest()
        if size == location.size and self._offset == size and sha == location.sha256:
            return
        discard_partial(self.destination)
        raise ResultsIntegrityError(
            f"{self.destination}: the download does not match the server's figures ({size} bytes, SHA-256"
            f" {sha}; expected {location.size} bytes, SHA-256 {location.sha256}); the bad file was deleted"
        )


class TooManyBytes(ResultsIntegrityError):
    def __init__(self, announced: int, destination: Path) -> None:
        super().__init__(
            f"{destination}: the server sent more than the {announced} bytes it announced; the download was "
            "stopped there and its bytes deleted"
        )


def _download_reason(error: UploadFailed) -> str:
    failure = error.failure
    gave_up = "" if failure.kind is FailureKind.FATAL else f" (gave up after {error.attempts} attempts)"
    return failure.reason.replace("the upload URL", "the download URL") + gave_up


def _plain_session() -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=0)  # BackoffPolicy owns retries
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class ResultsUrlProvider(Protocol):
    def results_url(self, job_id: str) -> dict[str, Any]: ...


def download_results(
    client: ResultsUrlProvider, job_id: str, destination: Path | str, **options: Any
) -> DownloadResult:
    """Download job ``job_id``'s results ZIP to ``destination`` via ``client.results_url`` (a BackendClient)."""
    return ResultsDownloader(lambda: client.results_url(job_id), destination, **options).run()
