"""HMAC signatures of worker callbacks (API.md, "Worker callbacks"), and of the work orders we send.

``X-ReelDrop-Timestamp: <unix seconds>`` and ``X-ReelDrop-Signature: v2=<hex HMAC-SHA256>`` of
``timestamp + "." + METHOD + "." + path?query + "." + body`` with the shared WORKER_SECRET: the signature
binds the call to its route and so to its job (``/internal/job/{job_id}/…``), and a call older (or newer)
than five minutes is refused. Within those five minutes each signature is applied once (``ReplayGuard``):
the same call again (a retry after a lost answer, or a capture played back) gets the job's state as it is,
and changes nothing.

The first scheme, ``sha256=<hex>`` of ``timestamp + "." + body``, signed no route: a captured call could be
replayed to another job. It is still accepted where the body binds the job itself (its ``job_id`` is the
route's; checked by the caller), and for a GET, whose signed "body" is its path.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from enum import StrEnum

TIMESTAMP_HEADER = "X-ReelDrop-Timestamp"
SIGNATURE_HEADER = "X-ReelDrop-Signature"
MAX_AGE_S = 300
MAX_REMEMBERED = 100_000  # signatures remembered at once (five minutes of a busy fleet's callbacks)


class Scheme(StrEnum):
    V1 = "sha256="  # timestamp + body
    V2 = "v2="  # timestamp + method + target + body


class SignatureError(Exception):
    """Why a call's signature was refused (shown to the caller: it names no secret)."""


def _message(scheme: Scheme, timestamp: str, body: bytes, method: str, target: str) -> bytes:
    if scheme is Scheme.V1:
        return timestamp.encode("ascii") + b"." + body
    return f"{timestamp}.{method.upper()}.{target}.".encode() + body


def signature(
    secret: str, timestamp: str, body: bytes, *, scheme: Scheme = Scheme.V1, method: str = "", target: str = ""
) -> str:
    message = _message(scheme, timestamp, body, method, target)
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign_headers(
    secret: str, body: bytes, timestamp: int | None = None, *, method: str | None = None, target: str | None = None
) -> dict[str, str]:
    """The two headers for a call with ``body``: signed with its ``method`` and ``target`` (path and query)
    when given (v2), else the first scheme (for a GET: ``body`` is the path it asks for)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    if method and target:
        value = signature(secret, stamp, body, scheme=Scheme.V2, method=method, target=target)
        return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: Scheme.V2 + value}
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: Scheme.V1 + signature(secret, stamp, body)}


def verify(
    secret: str,
    timestamp: str | None,
    signature_header: str | None,
    body: bytes,
    *,
    method: str = "",
    target: str = "",
    now: float | None = None,
    max_age_s: int = MAX_AGE_S,
) -> Scheme:
    """Raise ``SignatureError`` unless the call was signed with ``secret`` within ``max_age_s``; returns the
    scheme it was signed with (the caller decides where the first one is still enough)."""
    if not secret:
        raise SignatureError("worker callbacks are disabled: the server has no WORKER_SECRET")
    if not timestamp or not signature_header:
        raise SignatureError(f"unsigned call: send {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError(f"{TIMESTAMP_HEADER} must be a Unix time in seconds")
    age = (time.time() if now is None else now) - int(timestamp)
    if abs(age) > max_age_s:
        raise SignatureError(f"stale call: the timestamp is {int(age)} s away from the server's clock")
    scheme = next((s for s in Scheme if signature_header.startswith(s.value)), None)
    if scheme is None:
        raise SignatureError(f"{SIGNATURE_HEADER} must look like v2=<hex> (or sha256=<hex>)")
    expected = signature(secret, timestamp, body, scheme=scheme, method=method, target=target)
    if not hmac.compare_digest(expected, signature_header[len(scheme.value) :].strip().lower()):
        raise SignatureError("bad signature")
    return scheme


class ReplayGuard:
    """Each valid signature is applied once while its timestamp is fresh: a captured call cannot be played
    again, even to the same job (say, a "failed" report after the worker reported success since). Per
    process: a replay to another API process of a fleet is still bound to its job and its five minutes."""

    def __init__(self, max_age_s: int = MAX_AGE_S, capacity: int = MAX_REMEMBERED) -> None:
        self.max_age_s = max_age_s
        self.capacity = capacity
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_time(self, signature_header: str, now: float | None = None) -> bool:
        """Remember this signature; False when it was already seen within the window."""
        moment = time.monotonic() if now is None else now
        key = signature_header.strip().lower()
        with self._lock:
            if len(self._seen) >= self.capacity:
                self._forget_before(moment)
            if key in self._seen and self._seen[key] > moment:
                return False
            if len(self._seen) >= self.capacity:  # a flood of valid calls: the oldest go first
                self._seen.pop(next(iter(self._seen)))
            self._seen[key] = moment + 2 * self.max_age_s  # both sides of the clock window
            return True

    def _forget_before(self, moment: float) -> None:
        for key in [k for k, until in self._seen.items() if until <= moment]:
            del self._seen[key]
