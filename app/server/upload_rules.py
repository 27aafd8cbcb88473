"""What the server accepts for an upload: media types, sizes, filenames, and how keys and parts are chosen."""

from __future__ import annotations

import math
import mimetypes
import re
import unicodedata

from .errors import ApiError

MIB = 1024 * 1024
S3_MIN_PART = 5 * MIB
S3_MAX_PART = 5 * 1024 * MIB
S3_MAX_PARTS = 10_000
S3_MAX_POST = 5 * 1024 * MIB  # the largest object one presigned POST (or PUT) can store
DEFAULT_PART_SIZE = 16 * MIB

_MEDIA_TYPE = re.compile(r"^(video|audio)/[a-z0-9][a-z0-9.+-]{0,100}$")
TEXT_TYPES = {"text/plain", "text/vtt", "application/x-subrip", "text/srt"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]+")

# mimetypes does not know some common creator formats.
mimetypes.add_type("video/x-matroska", ".mkv")
mimetypes.add_type("video/mp4", ".m4v")
mimetypes.add_type("audio/mp4", ".m4a")


def check_filename(filename: str) -> str:
    if not filename or not filename.strip():
        raise ApiError(400, "invalid_filename", "The filename is empty.")
    if _CONTROL.search(filename):
        raise ApiError(400, "invalid_filename", "The filename contains control characters.")
    if "/" in filename or "\\" in filename or filename in (".", "..") or re.match(r"^[A-Za-z]:", filename):
        raise ApiError(400, "invalid_filename", f"The filename {filename!r} must not contain a path.")
    if len(filename.encode()) > 255:
        raise ApiError(400, "invalid_filename", "The filename is longer than 255 bytes.")
    return filename


def key_safe_name(filename: str) -> str:
    """A filename that is safe in an S3 key and a URL: ASCII letters, digits, dot, dash, underscore."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    stem, dot, ext = ascii_name.rpartition(".")
    if not dot:
        stem, ext = ascii_name, ""
    stem = _UNSAFE_KEY_CHARS.sub("_", stem).strip("._") or "file"
    ext = _UNSAFE_KEY_CHARS.sub("", ext)[:16]
    return f"{stem[:150]}.{ext}" if ext else stem[:150]


def resolve_media_type(content_type: str | None, filename: str, allow_text: bool = False) -> str:
    declared = (content_type or "").split(";")[0].strip().lower()
    if not declared or declared == "application/octet-stream":
        declared = (mimetypes.guess_type(filename)[0] or "").lower()
    if _MEDIA_TYPE.match(declared) or (allow_text and declared in TEXT_TYPES):
        return declared
    what = "video, audio or text" if allow_text else "video or audio"
    shown = declared or "unknown"
    raise ApiError(415, "unsupported_media_type", f"{filename}: type {shown!r} is not accepted ({what} only).")


def check_size(file_size: int, max_file_size: int) -> int:
    if file_size <= 0:
        raise ApiError(400, "empty_file", "The file is empty (0 bytes): there is nothing to upload.")
    if file_size > max_file_size:
        raise ApiError(
            413,
            "file_too_large",
            f"The file is {file_size} bytes; this server accepts at most {max_file_size}.",
        )
    return file_size


def choose_part_size(file_size: int, preferred: int | None = None) -> int:
    """Large enough that the file fits in 10,000 parts, within S3's 5 MiB - 5 GiB, rounded up to a MiB."""
    smallest = max(S3_MIN_PART, math.ceil(file_size / S3_MAX_PARTS))
    wanted = preferred if preferred else DEFAULT_PART_SIZE
    size = max(smallest, min(wanted, S3_MAX_PART))
    return min(S3_MAX_PART, math.ceil(size / MIB) * MIB)


def part_count(file_size: int, part_size: int) -> int:
    return max(1, math.ceil(file_size / part_size))


def post_offered(file_size: int, *, streaming: bool = False) -> bool:
    """Whether the presign answer carries a POST form (`upload_url` + `upload_fields`) besides its method.

    Every file one POST can carry gets one, whatever the method: the older clients always upload with the
    form (the browser-upload API's 187 MB and the form-upload API's 2 GB examples are above the multipart
    threshold), while ReelDrop's own client follows `method`. A streaming upload has no final size to put in a policy.
    """
    return not streaming and file_size <= S3_MAX_POST


def file_type(content_type: str) -> str:
    """The form-upload API's `file_type`: "audio" for an audio type, else "video"."""
    return "audio" if content_type.startswith("audio/") else "video"


def choose_method(file_size: int, post_threshold: int, *, streaming: bool = False, resumable: bool = False) -> str:
    """How an upload of ``file_size`` bytes is sent: "POST" (one presigned request) or "MULTIPART" (parts).

    Files above the POST threshold, and streaming uploads (whose size is not known yet), are multipart. A
    client that asks ``resumable`` gets multipart above S3's minimum part size too: an interrupted POST can
    only be sent again from its first byte, while stored parts survive. A file that fits in one minimum part
    gains nothing from parts, so it keeps the single POST (the older clients never ask: they keep POST).
    """
    if streaming or file_size > post_threshold:
        return "MULTIPART"
    if resumable and file_size > S3_MIN_PART:
        return "MULTIPART"
    return "POST"
