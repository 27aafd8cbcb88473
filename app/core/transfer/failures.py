"""Turn whatever stopped a file into one clear sentence, and decide whether it can be resumed later.

Resumable (the journal entry and the server's upload are kept, so running again continues): the network
or the backend stayed down through every retry, or the sign-in expired. Final (the server's upload is
aborted, the journal says failed): S3 or the backend refused the request, the file changed or cannot be
read, anything unexpected.
"""

from __future__ import annotations

import logging

from app.core.api import AuthRequired, BackendError, BackendUnavailable
from app.core.transfer.context import plain
from app.core.transfer.part_bodies import SourceChangedError
from app.core.transfer.retry import FailureKind, UploadFailed

log = logging.getLogger(__name__)


def is_resumable(error: BaseException) -> bool:
    if isinstance(error, UploadFailed):
        return error.failure.kind is not FailureKind.FATAL
    if isinstance(error, (BackendUnavailable, AuthRequired)):
        return True
    if isinstance(error, BackendError):
        return error.status >= 500
    return False


def describe(error: BaseException) -> str:
    """The cause, for a message that already starts with the file's name."""
    if isinstance(error, AuthRequired):
        return f"the server no longer accepts the sign-in ({error.detail}); sign in again"
    if isinstance(error, BackendUnavailable):
        return error.detail
    if isinstance(error, BackendError):
        return f"the server refused it: {error.detail}"
    if isinstance(error, SourceChangedError):
        return "the file changed while it was being uploaded; upload it again once it is written"
    if isinstance(error, OSError) and not isinstance(error, ConnectionError):
        return f"cannot read the file ({error.strerror or plain(error)})"
    if isinstance(error, UploadFailed):
        return plain(error)
    log.error("unexpected upload failure", exc_info=error)
    return f"unexpected error: {type(error).__name__}: {plain(error)}"
