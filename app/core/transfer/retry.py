"""What to do when a request to S3 (or the backend) fails, and how long to wait before trying again.

Three answers (RELIABILITY.md, "Limits to respect"):
- RETRY: the network or S3 hiccuped — connection errors, timeouts, a stall, 5xx (503 SlowDown, 500
  InternalError), 408/429, and the 400s that mean "the bytes did not arrive intact" (RequestTimeout,
  IncompleteBody, BadDigest: a Content-MD5 mismatch, i.e. a corrupted part, which sending again fixes).
- RESIGN: the presigned URL expired (403 "Request has expired", ExpiredToken); ask for a new URL and
  send again at once.
- FATAL: any other 4xx, bad TLS, local errors. No retry loop; the message names the item and the cause.

Backoff is AWS's "full jitter": the n-th wait is uniform in [0, min(cap, base·2^(n-1))], so many threads
hit by one 503 do not come back in lock-step. The loop is tenacity's (stop/wait/sleep hooks); only the
classification and the jitter (with an injectable random source, so tests can check every wait) are ours.
"""

from __future__ import annotations

import html
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import requests
import tenacity

from app.core.logsafe import redact
from app.core.transfer.control import TransferCancelled, TransferControl, TransferInterrupted

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 429})
RETRYABLE_S3_CODES = frozenset(
    {
        "RequestTimeout",
        "IncompleteBody",
        "BadDigest",
        "XAmzContentSHA256Mismatch",
        "SlowDown",
        "InternalError",
        "ServiceUnavailable",
        "Throttling",
        "ThrottlingException",
    }
)
# A URL (or its signature) the store no longer takes: ask the backend for a new one. Stores word it
# differently: AWS 403 AccessDenied "Request has expired", rclone 400 AccessDenied "...difference between the
# request time and the server's time...", others RequestTimeTooSkewed / SignatureDoesNotMatch. Re-signs have
# their own small budget (BackoffPolicy.max_resigns), so a refusal that a new URL does not cure still ends.
RESIGN_S3_CODES = frozenset(
    {"ExpiredToken", "TokenRefreshRequired", "RequestExpired", "RequestTimeTooSkewed", "SignatureDoesNotMatch"}
)
_STALE_URL_WORDS = ("expired", "request time", "time too skewed")
ERROR_BODY_LIMIT = 64 * 1024

_CODE = re.compile(r"<Code>\s*([^<]{1,200}?)\s*</Code>")
_MESSAGE = re.compile(r"<Message>\s*([^<]{0,1000}?)\s*</Message>")


class FailureKind(StrEnum):
    RETRY = "retry"
    RESIGN = "resign"
    FATAL = "fatal"


@dataclass(frozen=True, slots=True)
class Failure:
    kind: FailureKind
    reason: str
    status: int | None = None
    code: str | None = None


class RetryableTransferError(Exception):
    """Raise (or subclass) for a local condition worth another attempt, e.g. a stalled connection."""


class UploadFailed(Exception):
    """A request failed for good: fatal, or retries used up. ``str()`` names the item and the cause."""

    def __init__(self, describe: str, failure: Failure, attempts: int) -> None:
        self.failure = failure
        self.attempts = attempts
        gave_up = "" if failure.kind is FailureKind.FATAL else f" (gave up after {attempts} attempts)"
        super().__init__(f"{describe}: {failure.reason}{gave_up}")


def parse_s3_error(body: str) -> tuple[str | None, str | None]:
    """(Code, Message) from an S3 XML error body; (None, None) if it is not one."""
    code, message = _CODE.search(body), _MESSAGE.search(body)
    # XML escapes (&#39;, &amp;, &quot;) are the body's, not the store's words.
    return (html.unescape(code.group(1)) if code else None), (html.unescape(message.group(1)) if message else None)


def _error_body(response: requests.Response) -> str:
    try:
        return response.content[:ERROR_BODY_LIMIT].decode("utf-8", "replace")
    except (requests.RequestException, OSError):
        return ""


def classify_response(response: requests.Response) -> Failure | None:
    """None for a 2xx/3xx answer, else the Failure it stands for."""
    status = response.status_code
    if status < 400:
        return None
    code, message = parse_s3_error(_error_body(response))
    detail = f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    detail = redact(detail)
    stale_words = status in (400, 403) and message and any(w in message.lower() for w in _STALE_URL_WORDS)
    if stale_words or code in RESIGN_S3_CODES:
        return Failure(FailureKind.RESIGN, f"the upload URL expired ({detail})", status, code)
    if status >= 500 and status != 501:
        reason = f"the storage service had a temporary error ({detail})"
        return Failure(FailureKind.RETRY, reason, status, code)
    if status in RETRYABLE_STATUS or code in RETRYABLE_S3_CODES:
        reason = f"the request did not get through intact ({detail})"
        return Failure(FailureKind.RETRY, reason, status, code)
    return Failure(FailureKind.FATAL, f"the storage service refused the request ({detail})", status, code)


def classify_exception(error: BaseException) -> Failure:
    """The Failure a raised exception stands for (network trouble is retryable, the rest is not)."""
    text = redact(f"{type(error).__name__}: {error}")
    if isinstance(error, requests.exceptions.SSLError):
        return Failure(FailureKind.FATAL, f"secure connection failed ({text})")
    if isinstance(error, requests.exceptions.Timeout | TimeoutError):
        return Failure(FailureKind.RETRY, f"the connection timed out ({text})")
    retryable = (
        requests.exceptions.ConnectionError,
        requests.exceptions.ChunkedEncodingError,
        ConnectionError,
        RetryableTransferError,
    )
    if isinstance(error, retryable):
        return Failure(FailureKind.RETRY, f"the connection failed ({text})")
    return Failure(FailureKind.FATAL, text)


def classify(outcome: requests.Response | BaseException) -> Failure | None:
    """Classify a response or an exception; None means success."""
    if isinstance(outcome, BaseException):
        return classify_exception(outcome)
    return classify_response(outcome)


class _AttemptFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """How often and how long to retry. ``max_attempts`` counts attempts that failed retryably;
    re-signs have their own budget so a server handing out stale URLs cannot loop forever."""

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_resigns: int = 3

    def delay(self, retry_number: int, rng: Callable[[float, float], float] = random.uniform) -> float:
        """Full-jitter wait before retry ``retry_number`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(0, retry_number - 1))
        return rng(0.0, ceiling)

    def call(
        self,
        attempt: Callable[[], requests.Response],
        *,
        describe: str,
        on_resign: Callable[[Failure], None] | None = None,
        on_retry: Callable[[Failure, float], None] | None = None,
        control: TransferControl | None = None,
        sleep: Callable[[float], None] | None = None,
        rng: Callable[[float, float], float] = random.uniform,
    ) -> requests.Response:
        """Run ``attempt`` until it returns a successful response; raise UploadFailed otherwise.

        ``on_resign(failure)`` runs before the attempt that follows an expired URL (fetch a new one
        there; its own errors are classified like the attempt's). ``on_retry(failure, delay)`` runs
        before every wait (roll back progress, log). Cancel/pause (TransferInterrupted) passes straight
        through; a cancel also cuts a backoff wait short.
        """
        failures: list[Failure] = []
        resign_pending = False

        def attempt_once() -> requests.Response:
            nonlocal resign_pending
            cause: Exception | None = None
            try:
                if resign_pending and on_resign is not None:
                    on_resign(failures[-1])
                resign_pending = False
                response = attempt()
            except TransferInterrupted:
                raise
            except Exception as error:
                failure: Failure | None = classify_exception(error)
                cause = error
            else:
                failure = classify_response(response)
                if failure is None:
                    return response
                response.close()
            assert failure is not None
            failures.append(failure)
            # A failed re-sign (say, the backend is unreachable) leaves the URL stale: re-sign again.
            resign_pending = resign_pending or failure.kind is FailureKind.RESIGN
            raise _AttemptFailed(failure) from cause

        def count(kind: FailureKind) -> int:
            return sum(1 for failure in failures if failure.kind is kind)

        def stop(_state: tenacity.RetryCallState | None = None) -> bool:
            retries_used = count(FailureKind.RETRY) >= self.max_attempts
            return retries_used or count(FailureKind.RESIGN) > self.max_resigns

        def wait(_state: tenacity.RetryCallState) -> float:
            # tenacity asks for the wait before it checks stop: draw no delay for a retry that won't come.
            if failures[-1].kind is FailureKind.RESIGN or stop():
                return 0.0
            return self.delay(count(FailureKind.RETRY), rng)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            failure, delay = failures[-1], state.upcoming_sleep
            log.info("%s: %s; attempt %d in %.2f s", describe, failure.reason, len(failures) + 1, delay)
            if on_retry is not None:
                on_retry(failure, delay)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_worth_retrying),
            stop=stop,
            wait=wait,
            sleep=sleep or _interruptible_sleep(control),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt_once)
        except _AttemptFailed as error:
            raise UploadFailed(describe, error.failure, len(failures)) from error.__cause__


def _worth_retrying(error: BaseException) -> bool:
    return isinstance(error, _AttemptFailed) and error.failure.kind is not FailureKind.FATAL


def _interruptible_sleep(control: TransferControl | None) -> Callable[[float], None]:
    if control is None:
        return time.sleep

    def sleep(seconds: float) -> None:
        if control.wait_cancelled(seconds):
            raise TransferCancelled("transfer cancelled")

    return sleep
