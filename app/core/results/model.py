"""Plain data of a results download: where the ZIP is, what it must be, how the download went, and errors."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

UrlSource = Callable[[], Mapping[str, Any]]
"""Returns a fresh ``{url, size, sha256, expires_in?, headers?}``; called again when a URL expires."""


class ResultsDownloadError(Exception):
    """The results ZIP could not be downloaded; the message names the file and the cause."""


class ResultsIntegrityError(ResultsDownloadError):
    """The downloaded bytes are not what the server announced (size or SHA-256); they were deleted."""


@dataclass(frozen=True, slots=True)
class ResultsLocation:
    """Where to fetch the ZIP and what it must be: the answer of GET /api/jobs/{id}/results/url."""

    url: str
    size: int
    sha256: str
    expires_in: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_answer(cls, answer: Mapping[str, Any]) -> ResultsLocation:
        try:
            sha = str(answer["sha256"]).lower()
            size = int(answer["size"])
            url = str(answer["url"])
        except (KeyError, TypeError, ValueError) as error:
            raise ResultsDownloadError(f"the server's results location is incomplete ({error!r})") from error
        if size < 0 or not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise ResultsDownloadError("the server's results location has no valid size and SHA-256")
        expires = answer.get("expires_in")
        return cls(url, size, sha, None if expires is None else int(expires), dict(answer.get("headers") or {}))


@dataclass(frozen=True, slots=True)
class DownloadResult:
    path: Path
    size: int
    sha256: str
    resumed_from: int  # bytes already on disk when this run started (0: a fresh download)
    bytes_received: int  # body bytes this run fetched, restarts included
    restarts: int  # times the bytes on disk were thrown away because the object changed
    url_refreshes: int  # new URLs asked for (expired URL, changed object)
    already_present: bool = False


def safe_url(url: str) -> str:
    """scheme://host/path: what may appear in a log or a message (the query holds the signature)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
