"""Turn an exception into a sentence a creator can act on; the traceback goes to the log, never a dialog."""

from __future__ import annotations

from app.core.api import AuthRequired, BackendError, BackendUnavailable
from app.core.credentials import CredentialStoreError
from app.core.media.errors import MediaError
from app.core.settings import SettingsError


def plain_words(exc: BaseException) -> str:
    """One or two short sentences, no type names unless nothing better is known."""
    if isinstance(exc, AuthRequired):
        return "The server did not accept the sign-in. Check the user name and password, or sign in again."
    if isinstance(exc, BackendUnavailable):
        return f"{exc.detail} Check the address and your internet connection."
    if isinstance(exc, BackendError):
        return exc.detail or f"The server answered with an error ({exc.status})."
    if isinstance(exc, MediaError | CredentialStoreError | SettingsError):
        return _first_line(str(exc)) or type(exc).__name__
    if isinstance(exc, PermissionError):
        return f"ReelDrop is not allowed to use {exc.filename or 'a file'}. Check the folder's permissions."
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename or 'A file'} is no longer there."
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"The computer refused: {exc.strerror}{where}."
    if isinstance(exc, MemoryError):
        return "The computer ran out of memory."
    return f"Something unexpected went wrong ({type(exc).__name__})."


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


# error_type (from the core) -> a few words for the queue's Stage column, and what the creator can do.
_SHORT_REASONS = {
    "not_media": ("not a video", "ReelDrop takes video and audio files."),
    "empty_file": ("empty file", "The file has no content; was it copied completely?"),
    "missing": ("file moved or deleted", "Put the file back where it was, or add it again."),
    "is_directory": ("no videos in folder", "The folder holds no video or audio files."),
    "too_large": ("over 5 TiB", "S3 stores files of up to 5 TiB; split the recording, or compress it first."),
    "unreadable": ("cannot read file", "Check that the file is not locked or protected, then Retry."),
    "truncated": ("file incomplete", "The file is cut short; copy it again from the camera or phone."),
    "no_video_stream": ("no picture (audio only)", "Choose the Audio only preset for this file, then Retry."),
    "disk_full": ("disk full", "Free some disk space, then Retry."),
    "ffmpeg_missing": ("ffmpeg missing", "Reinstall ReelDrop; its video tools are missing."),
    "encoder_missing": ("no video encoder", "Turn off the graphics card encoder in Settings, then Retry."),
    "ffmpeg_failed": ("compression failed", "Try another preset, or Retry."),
    "ffmpeg_timeout": ("compression stuck", "Retry; if it happens again, try another preset."),
    "upload_failed": ("upload failed", "Check your internet connection; Retry continues where it stopped."),
    "job_refused": ("server refused", "Retry in a moment; sign in again if the server asks."),
    "job_failed": ("processing failed", "The server could not process this video; Retry, or try another preset."),
    "job_cancelled": ("cancelled on server", "Retry to process it again."),
    # The server lost (or cleaned up) the uploaded copy, or the results: nothing is wrong with the video.
    "original_lost": ("server lost the upload", "Retry uploads the file again and starts a new processing job."),
    "results_lost": ("server lost the results", "Retry uploads the file again and processes it anew."),
    "job_unavailable": ("server unreachable", "Check your internet connection; Retry continues where it stopped."),
    "results_failed": ("download failed", "Retry continues the download where it stopped."),
}


def short_reason(error_type: str | None) -> str:
    """ "not a video", "disk full"... for the queue; empty when there are no better words than "Failed"."""
    return _SHORT_REASONS.get(error_type or "", ("", ""))[0]


def every_short_reason() -> list[str]:
    """All the words `short_reason` can give (the queue sizes its Stage column to hold them)."""
    return [short for short, _ in _SHORT_REASONS.values()]


def what_to_do(error_type: str | None) -> str:
    return _SHORT_REASONS.get(error_type or "", ("", "Retry continues from the last finished step."))[1]
