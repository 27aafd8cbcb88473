"""Keep secrets out of logs: presigned URL signatures, bearer tokens, access tokens, POST policies.

`redact(text)` applies three rules, in order:
1. the whole ?query of a URL (or a bare "/path?query", as urllib3 logs it) goes when it carries
   signing parameters (X-Amz-*, X-RD-* of our own file store, Signature, AWSAccessKeyId, tokens...) or
   the host is an S3 service;
2. signing fields (X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token, Signature, AWSAccessKeyId,
   Credential) go whole, name and value, wherever they appear as `name=value`, `name: value` or
   `'name': 'value'` (botocore's canonical request, POST form fields, Authorization headers), so
   that a search of a debug log for "X-Amz-Signature" finds nothing;
3. other secret fields (Authorization, access_token, policy, password...) keep their name and lose
   their value, and any `Bearer <token>` loses the token.
`RedactingFilter` applies it to log records, including exception tracebacks; `install_redaction()`
attaches one to every handler of a logger (the root by default).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

REDACTED = "<redacted>"

# Parameters that make a query string a credential in its own right.
_SIGNING_QUERY = re.compile(
    r"(?:^|[&;])(?:x-amz-|x-goog-|x-rd-|signature=|awsaccesskeyid=|googleaccessid=|key-pair-id=|policy=|sig="
    r"|access_token=|token=)",
    re.IGNORECASE,
)
_S3_HOST_SUFFIXES = (
    ".amazonaws.com",
    ".r2.cloudflarestorage.com",
    ".digitaloceanspaces.com",
    "storage.googleapis.com",
)
# Tokens without spaces or quotes; matched one after another, so long lines cost linear time.
_TOKEN = re.compile(r"[^\s\"'<>]+")

# A field value: a quoted string (maybe a bytes repr) or a bare token up to a separator.
_VALUE = r"(?P<value>b?\"[^\"]*\"|b?'[^']*'|[^\s,;&\"'<>}\])]+)"
_SEP = r"(?P<sep>[\"']?\s*(?:=|%3D|:)\s*)"
_SIGNING_FIELD = re.compile(
    r"(?P<quote>[\"']?)\b(?:x-amz-signature|x-rd-signature|x-amz-credential|x-amz-security-token|x-goog-signature"
    r"|x-goog-credential|awsaccesskeyid|signature|credential)\b" + _SEP + _VALUE,
    re.IGNORECASE,
)
_SECRET_FIELD = re.compile(
    r"(?P<name>[\"']?\b(?:access_token|refresh_token|id_token|client_secret|password|passwd|secret"
    r"|(?:aws_)?secret_access_key|(?:aws_)?session_token|api_key|policy|token|x-api-key)\b)" + _SEP + _VALUE,
    re.IGNORECASE,
)
# Header values run to the end of the line unless quoted (dict reprs, JSON).
_AUTH_HEADER = re.compile(
    r"(?P<name>[\"']?\b(?:proxy-)?authorization\b)(?P<sep>[\"']?\s*[:=]\s*)"
    r"(?P<value>b?\"[^\"]*\"|b?'[^']*'|[^\r\n\"']+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(?P<scheme>bearer)\s+[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)


def _strip_query(match: re.Match[str]) -> str:
    token = match.group(0)
    prefix, question, rest = token.partition("?")
    if not question:
        return token
    query = rest.partition("#")[0]
    if _SIGNING_QUERY.search(query) or _is_s3_url(prefix):
        return f"{prefix}?{REDACTED}"
    return token


def _is_s3_url(prefix: str) -> bool:
    if "://" not in prefix:
        return False
    try:
        host = (urlsplit(prefix).hostname or "").lower()
    except ValueError:
        return False
    return host.endswith(_S3_HOST_SUFFIXES)


def _keep_name(match: re.Match[str]) -> str:
    value = match.group("value").removeprefix("b")
    quote = value[0] if len(value) > 1 and value[0] in "'\"" and value[-1] == value[0] else ""
    return f"{match.group('name')}{match.group('sep')}{quote}{REDACTED}{quote}"


def redact(text: str) -> str:
    """Return `text` with presigned-URL signatures, tokens and other secrets replaced by <redacted>."""
    if not text:
        return text
    if "?" in text:
        text = _TOKEN.sub(_strip_query, text)
    text = _AUTH_HEADER.sub(_keep_name, text)
    text = _BEARER.sub(lambda m: f"{m.group('scheme')} {REDACTED}", text)
    text = _SIGNING_FIELD.sub(REDACTED, text)
    return _SECRET_FIELD.sub(_keep_name, text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and traceback) with `redact` before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not hide the record; the handler reports it
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Formatter reuses exc_text when set, so the redacted traceback is what gets written.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_redaction(logger: logging.Logger | None = None) -> RedactingFilter:
    """Attach one RedactingFilter to `logger` (default: root) and to each of its handlers.

    Handler filters are what see records propagated from child loggers, so call this after the
    handlers are configured (and again after adding one); a second call adds no duplicates.
    """
    target = logger or logging.getLogger()
    existing = next((f for f in target.filters if isinstance(f, RedactingFilter)), None)
    redaction = existing or RedactingFilter()
    for filterer in (target, *target.handlers):
        if not any(isinstance(f, RedactingFilter) for f in filterer.filters):
            filterer.addFilter(redaction)
    return redaction
