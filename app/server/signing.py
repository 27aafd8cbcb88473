"""HMAC signatures of worker callbacks (API.md, "Worker callbacks").

``X-ReelDrop-Timestamp: <unix seconds>`` and ``X-ReelDrop-Signature: sha256=<hex HMAC-SHA256 of
timestamp + "." + body>`` with the shared WORKER_SECRET. A call older (or newer) than five minutes is
refused, so a recorded call cannot be replayed later; within the window a replay is harmless because
the callbacks are idempotent. A GET has no body: its path (with the query) is signed in its place.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-ReelDrop-Timestamp"
SIGNATURE_HEADER = "X-ReelDrop-Signature"
MAX_AGE_S = 300
_PREFIX = "sha256="


class SignatureError(Exception):
    """Why a call's signature was refused (shown to the caller: it names no secret)."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The two headers a worker sends with ``body`` (for a GET: the path it asks for, as bytes)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: _PREFIX + signature(secret, stamp, body)}


def verify(
    secret: str,
    timestamp: str | None,
    signature_header: str | None,
    body: bytes,
    *,
    now: float | None = None,
    max_age_s: int = MAX_AGE_S,
) -> None:
    """Raise ``SignatureError`` unless the call was signed with ``secret`` within ``max_age_s``."""
    if not secret:
        raise SignatureError("worker callbacks are disabled: the server has no WORKER_SECRET")
    if not timestamp or not signature_header:
        raise SignatureError(f"unsigned call: send {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError(f"{TIMESTAMP_HEADER} must be a Unix time in seconds")
    age = (time.time() if now is None else now) - int(timestamp)
    if abs(age) > max_age_s:
        raise SignatureError(f"stale call: the timestamp is {int(age)} s away from the server's clock")
    if not signature_header.startswith(_PREFIX):
        raise SignatureError(f"{SIGNATURE_HEADER} must look like sha256=<hex>")
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected, signature_header[len(_PREFIX) :].strip().lower()):
        raise SignatureError("bad signature")
