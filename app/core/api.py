"""The backend client: one pooled requests.Session, timeouts, retries for idempotent calls, bearer auth.

Every answer the backend gives is JSON, and every error is {"detail": ..., "code": ...} (API.md); both
become plain Python values or a BackendError here, so callers never parse HTTP.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from app import __version__

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
RETRY_STATUSES = frozenset({500, 502, 503, 504})


class BackendError(Exception):
    """The backend refused or failed a call; `code` is the backend's machine-readable reason."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


class AuthRequired(BackendError):
    """No token, or the backend no longer accepts it: sign in again."""


class BackendUnavailable(BackendError):
    """The backend could not be reached (after retries where retrying was safe)."""


class BadJobId(BackendError):
    """A job id that is not one (a UUID): refused before it names a file, a folder or a URL path. A hostile or
    broken server's `/…/Backups/tax-2025` would otherwise have written a ZIP over tax-2025.zip, and
    `../../.hidden` results outside the output folder."""

    def __init__(self, value: object) -> None:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        example = "7a2f5c90-e29b-41d4-a716-446655440001"
        super().__init__(0, "bad_job_id", f"{shown} is not a job id (one looks like {example})")


_JOB_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def checked_job_id(value: object) -> str:
    """``value`` if it is a job id (a UUID), else BadJobId. Every job id from a server or a user passes here
    before it is used in a path."""
    if isinstance(value, str) and _JOB_ID.fullmatch(value):
        return value
    raise BadJobId(value)


@dataclass(frozen=True)
class SignedPart:
    part_number: int
    url: str
    headers: dict[str, str]
    fresh_until: float | None = None  # time.monotonic() after which the URL is too close to expiring to use

    @property
    def stale(self) -> bool:
        return self.fresh_until is not None and time.monotonic() >= self.fresh_until


def fresh_until(answer: Mapping[str, Any], received: float) -> float | None:
    """Until when (on time.monotonic(), from ``received``) the URLs of a sign answer are safe to start a
    send on: their lifetime less a margin for the request to reach S3 (a quarter of it, at most 30 s).
    The lifetime is the answer's ``expires_in`` (counted from its arrival, so a client clock that is off
    does not matter), else ``expires_at`` read on this machine's clock; None when it says neither."""
    lifetime = answer.get("expires_in")
    if not isinstance(lifetime, int | float) or isinstance(lifetime, bool):
        try:
            expires_at = datetime.fromisoformat(str(answer["expires_at"]).replace("Z", "+00:00"))
            lifetime = (expires_at - datetime.now(UTC)).total_seconds()
        except (KeyError, ValueError, TypeError):
            return None
    return received + lifetime - min(30.0, max(0.0, lifetime) / 4)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return True
    return isinstance(exc, BackendError) and exc.status in RETRY_STATUSES


class BackendClient:
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        pool_size: int = 16,
        attempts: int = 5,
        max_wait: float = 8.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._attempts = attempts
        self._max_wait = max_wait
        self._sleep = sleep
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = f"ReelDrop/{__version__}"

    def close(self) -> None:
        self.session.close()

    # -- plumbing ---------------------------------------------------------------------------------
    def _once(self, method: str, path: str, **kw: Any) -> Any:
        headers = dict(kw.pop("headers", {}))
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            answer = self.session.request(
                method, self.base_url + path, headers=headers, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), **kw
            )
        except (requests.ConnectionError, requests.Timeout):
            log.debug("%s %s: no answer from the backend", method, path)
            raise
        if answer.status_code >= 400:
            raise _error_from(answer)
        if answer.status_code == 204 or not answer.content:
            return None
        return answer.json()

    def request(self, method: str, path: str, *, idempotent: bool | None = None, **kw: Any) -> Any:
        """One API call. Idempotent calls (GET/PUT/DELETE, or flagged) are retried with capped jitter."""
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE")
        attempts = self._attempts if idempotent else 1
        options: dict[str, Any] = {"sleep": self._sleep} if self._sleep else {}
        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_random_exponential(multiplier=0.25, max=self._max_wait),
            retry=retry_if_exception(_retryable),
            reraise=True,
            **options,
        )
        try:
            return retrying(self._once, method, path, **kw)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise BackendUnavailable(
                0, "backend_unreachable", f"The ReelDrop server at {self.base_url} cannot be reached."
            ) from exc

    # -- auth -------------------------------------------------------------------------------------
    def login(self, username: str, password: str) -> str:
        answer = self.request("POST", "/api/auth/token", json={"username": username, "password": password})
        self.token = answer["access_token"]
        return self.token

    def logout(self) -> None:
        """Revoke the token on the server; a token the server already refuses counts as logged out."""
        with contextlib.suppress(AuthRequired):
            self.request("DELETE", "/api/auth/token")
        self.token = None

    def me(self) -> dict[str, Any]:
        return self.request("GET", "/api/me")

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/readyz")

    # -- uploads ----------------------------------------------------------------------------------
    def presign(
        self,
        filename: str,
        file_size: int,
        content_type: str | None = None,
        part_size: int | None = None,
        checksum_algorithm: str | None = None,
        streaming: bool = False,
        resumable: bool = False,
    ) -> dict[str, Any]:
        """Start an upload. ``checksum_algorithm="CRC32C"`` makes S3 verify every multipart part.
        ``streaming=True``: the file is still being written and ``file_size`` is an upper bound.
        ``resumable=True`` asks for multipart parts even under the server's POST threshold; a server that
        predates the field ignores it and may still answer ``method: "POST"``, so read the answer's method."""
        body: dict[str, Any] = {"filename": filename, "file_size": file_size, "content_type": content_type}
        if part_size:
            body["part_size"] = part_size
        if checksum_algorithm:
            body["checksum_algorithm"] = checksum_algorithm
        if streaming:
            body["streaming"] = True
        if resumable:
            body["resumable"] = True
        return self.request("POST", "/api/upload/presigned-url", json=body)

    def sign_parts(self, upload_id: str, parts: Mapping[int, str | Mapping[str, str | int] | None]) -> list[SignedPart]:
        """Presigned PUT URLs for the given part numbers. Each value pins the part: a base64 Content-MD5
        string, a mapping of fields (``{"checksum_crc32c": ..., "content_length": ...}``), or None. The
        answer's headers are signed: send them exactly."""
        numbers = sorted(parts)
        signed: list[SignedPart] = []
        for start in range(0, len(numbers), 1000):  # the server signs at most 1,000 per call
            batch = [{"part_number": n, **_checksum_fields(parts[n])} for n in numbers[start : start + 1000]]
            answer = self.request("POST", f"/api/upload/{upload_id}/parts", json={"parts": batch}, idempotent=True)
            until = fresh_until(answer, time.monotonic())
            signed += [SignedPart(p["part_number"], p["url"], p.get("headers") or {}, until) for p in answer["parts"]]
        return signed

    def list_parts(self, upload_id: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/api/upload/{upload_id}/parts")

    def complete(
        self,
        upload_id: str,
        parts: Sequence[tuple[int, str] | tuple[int, str, str | None]] | None = None,
        sha256: str | None = None,
        size: int | None = None,
    ) -> dict[str, Any]:
        """Finish an upload: ``parts`` are (number, etag) or (number, etag, base64 CRC32C) for multipart
        uploads, nothing for a presigned POST; ``sha256`` is the client's whole-file hash (hex); ``size``
        the file's size (the server checks it; a streaming upload needs it)."""
        listed = []
        for part in parts or []:
            entry: dict[str, Any] = {"part_number": part[0], "etag": part[1]}
            if len(part) > 2 and part[2]:
                entry["checksum_crc32c"] = part[2]
            listed.append(entry)
        body: dict[str, Any] = {"parts": listed}
        if sha256:
            body["sha256"] = sha256
        if size is not None:
            body["size"] = size
        # the server answers a second complete of a finished upload with the same result
        return self.request("POST", f"/api/upload/{upload_id}/complete", json=body, idempotent=True)

    def abort(self, upload_id: str) -> dict[str, Any]:
        return self.request("DELETE", f"/api/upload/{upload_id}")

    def upload(self, upload_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/upload/{upload_id}")

    # -- jobs -------------------------------------------------------------------------------------
    def create_job(self, upload_id: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self.request("POST", "/api/jobs", json={"upload_id": upload_id, "options": options or {}})
        checked_job_id(answer.get("job_id"))
        return answer

    def job(self, job_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/jobs/{checked_job_id(job_id)}")

    def jobs(self, limit: int = 20, offset: int = 0) -> dict[str, Any]:
        return self.request("GET", "/api/jobs", params={"limit": limit, "offset": offset})

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        return self.request("POST", f"/api/jobs/{checked_job_id(job_id)}/cancel", idempotent=True)

    def results_url(self, job_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/jobs/{checked_job_id(job_id)}/results/url")

    def output_url(self, job_id: str, item_id: str) -> dict[str, Any]:
        """A link to one output of a job: ``{url, expires_in, size, s3_key, public_url?}``."""
        return self.request("GET", f"/api/jobs/{checked_job_id(job_id)}/items/{item_id}/url")

    # -- disk space -------------------------------------------------------------------------------
    def free_space(self, keep_job_ids: Sequence[str] = ()) -> dict[str, Any]:
        """Remove the results ZIP, outputs and original of this user's finished jobs, except the jobs in
        ``keep_job_ids`` (``POST /api/storage/free``); answers ``freed_bytes``, ``removed_objects``, ``jobs``
        and ``used_bytes``. Sent once, never retried: the list of jobs to keep is only true at the moment
        it was taken, and a retry seconds later could remove a job that finished meanwhile."""
        body = {"keep_job_ids": sorted(set(keep_job_ids))}
        return self.request("POST", "/api/storage/free", json=body, idempotent=False)


def _checksum_fields(value: str | Mapping[str, str | int] | None) -> dict[str, str | int]:
    if not value:
        return {}
    if isinstance(value, str):
        return {"content_md5": value}
    return dict(value)


def _error_from(answer: requests.Response) -> BackendError:
    try:
        body = answer.json()
        detail, code = str(body.get("detail", "")), str(body.get("code", "error"))
    except ValueError:
        detail, code = answer.reason or "error", f"http_{answer.status_code}"
    if not detail:
        detail = f"The server answered {answer.status_code}."
    kind = AuthRequired if answer.status_code == 401 else BackendError
    return kind(answer.status_code, code, detail)
