"""Request bodies are bounded, and a route that needs a token checks it, before a byte of the body is read.

FastAPI reads and parses a body (JSON, or a multipart form spooled to a temporary file) before it runs a
route's dependencies, so ``current_user`` alone would check the token only after a stranger's 300 MiB had
been stored. This ASGI middleware runs first:

- a body declared larger than the route's limit is answered 413 at once, unread; one without a declared
  length (chunked) is counted as it arrives and cut off at the limit (Starlette's RequestBodyLimitMiddleware);
- a body for a route that needs a token is read only when the request carries a valid one (else 401).

Limits: JSON routes 1 MiB; the routes that take a file in a form, the largest file they accept
(S3_MULTIPART_THRESHOLD, at most MAX_FILE_SIZE) plus room for the form; a transcript sent as text, its own
cap. The folder store's presigned routes (/storage) check their signature before reading and bound each body
by the size signed into its URL, so they are left to themselves.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from .auth import user_for_token
from .errors import ApiError, error_response
from .services import bearer_token

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from .services import Services

KIB = 1024
MIB = 1024 * KIB
JSON_BODY_LIMIT = 1 * MIB
FORM_OVERHEAD = 64 * KIB  # the form's boundaries, field names and headers around the file
TRANSCRIPT_TEXT_LIMIT = 11 * MIB  # TranscriptText.content is at most 10 MiB of text
FILE_FORM_ROUTES = ("/api/upload/file", "/api/upload/video", "/api/upload/transcript-file", "/api/jobs/")
NO_TOKEN_ROUTES = ("/api/auth/token",)  # signing in; the worker callbacks (/internal/) are signed instead
SELF_GUARDED_PREFIX = "/storage"


class BodyGuard:
    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    def limit_for(self, path: str) -> int:
        if path in FILE_FORM_ROUTES:
            config = self.services.config
            return min(config.max_file_size, config.multipart_threshold) + FORM_OVERHEAD
        if path == "/api/upload/transcript-text":
            return TRANSCRIPT_TEXT_LIMIT
        return JSON_BODY_LIMIT

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        receive = self._with_idle_timeout(receive)
        path = scope.get("path", "")
        if path.startswith(SELF_GUARDED_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if declared is not None and not declared.strip().isdigit():
            await _answer(scope, receive, send, ApiError(400, "bad_request", "Content-Length is not a number."))
            return
        length = int(declared) if declared is not None else None
        if not chunked and not length:  # no body: nothing to bound or to guard
            await self.app(scope, receive, send)
            return
        if path not in NO_TOKEN_ROUTES and not path.startswith("/internal/"):
            refusal = await run_in_threadpool(self._token_refusal, headers.get("authorization"))
            if refusal is not None:  # a stranger learns nothing more, not even the route's limit
                await _answer(scope, receive, send, refusal)
                return
        limit = self.limit_for(path)
        if length is not None and length > limit:
            await _answer(scope, receive, send, _too_large(limit))
            return
        # Counted as it arrives: a chunked body (or one longer than it said) stops at the limit with a 413.
        await RequestBodyLimitMiddleware(self.app, max_body_size=limit)(scope, receive, send)

    def _with_idle_timeout(self, receive: Receive) -> Receive:
        """``receive`` that gives up when a body stops arriving for ``body_idle_timeout_s`` (a client that
        sends a byte a minute holds a connection for ever). Once the body is whole, it is ``receive`` again:
        a streaming answer waits on it for the client's disconnect, as long as the download lasts."""
        idle_s = self.services.config.body_idle_timeout_s
        body_done = False

        async def receive_in_time() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), idle_s)
            except TimeoutError:
                raise HTTPException(408, f"The request body stopped arriving for {idle_s:.0f} s.") from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        return receive_in_time

    def _token_refusal(self, authorization: str | None) -> ApiError | None:
        try:
            raw = bearer_token(authorization)
            with self.services.db.session() as session:
                user_for_token(session, raw)
        except ApiError as refusal:
            return refusal
        return None


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large", f"The request body is larger than this route takes ({limit} bytes).")


async def _answer(scope: Scope, receive: Receive, send: Send, error: ApiError) -> None:
    # The body is left unread: the server closes the connection after this answer.
    response = error_response(error)
    response.headers["Connection"] = "close"
    await response(scope, receive, send)
