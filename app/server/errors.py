"""One error shape for every answer: {"detail": "...", "code": "snake_case_code"}."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    408: "request_timeout",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


class ErrorBody(BaseModel):
    """Every refusal and failure of the API: a sentence for people and a stable code for programs."""

    detail: str = Field(description="what went wrong, in words (names the file, the field or the limit)")
    code: str = Field(description="a stable snake_case code, e.g. invalid_request, quota_exceeded")


# Declared on every route, so /openapi.json documents the one error shape (and FastAPI does not document
# its own 422 body, a list, which this API never sends: validation errors are ErrorBody too).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorBody, "description": "Refused: the request, its caller or its target is not right"},
    "5XX": {"model": ErrorBody, "description": "Failed on the server or a service behind it (storage, database)"},
}


STORAGE_RETRY_AFTER_S = 2


class StorageAnswerError(Exception):
    """The object store's answer lacked what every answer of its kind carries: it was cut short on the way
    or is malformed. Worth another try (the API answers 503 with Retry-After), never a 500."""

    def __init__(self, operation: str, field: str) -> None:
        super().__init__(f"the storage service's answer to {operation} came without its {field}")


class ApiError(Exception):
    """An error the client caused (4xx) or a dependency failure (5xx), with a machine-readable code."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def _error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status, headers=headers)


def error_response(exc: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer", **exc.headers} if exc.status == 401 else exc.headers
    return _error(exc.status, exc.code, exc.detail, headers or None)


def _describe_validation(exc: RequestValidationError) -> tuple[int, str, str]:
    errors = exc.errors()
    if any(err.get("type") == "json_invalid" for err in errors):
        return 400, "malformed_json", "The request body is not valid JSON."
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return 422, "invalid_request", "; ".join(parts) or "Invalid request."


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        status, code, detail = _describe_validation(exc)
        return _error(status, code, detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        return _error(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(StorageAnswerError)
    @app.exception_handler(BotoCoreError)
    @app.exception_handler(ResponseParserError)  # not a BotoCoreError: an answer botocore could not read
    async def _storage_trouble(request: Request, exc: Exception) -> JSONResponse:
        # A cut or malformed answer of the object store, or one it could not give (botocore has retried
        # already): the request may well work in a moment, so say so, rather than a 500.
        log.warning("storage trouble on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        detail = "The storage service did not answer properly; try again in a moment."
        return _error(503, "storage_unavailable", detail, {"Retry-After": str(STORAGE_RETRY_AFTER_S)})

    @app.exception_handler(ClientError)
    async def _storage_refused(request: Request, exc: Exception) -> JSONResponse:
        # The store's own 5xx after botocore's retries (botocore also reports an answer it could not read
        # as a 500): temporary. Any other refusal the route did not expect is a bug here: a 500.
        status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if status >= 500:
            return await _storage_trouble(request, exc)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal_error", "The server failed to handle this request.")
