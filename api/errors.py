"""Every failure as a status and one line of JSON, never a traceback: ``{"error": {"message", "type", "code"}}``.

The shape is OpenAI's, so the ``openai`` client and chat front ends show the message as it is.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import (
    AccessDeniedError,
    CollectionNotFoundError,
    ConversationNotFoundError,
    DocumentNotFoundError,
    EmbedderMismatchError,
    GenerationTimeoutError,
    IndexBusyError,
    IndexError_,
    OllamaUnavailableError,
    RagError,
    SettingsError,
)

log = logging.getLogger(__name__)

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found",
          409: "conflict", 413: "request_too_large", 415: "unsupported_media_type", 422: "invalid_request_error",
          429: "rate_limit_exceeded", 500: "server_error", 503: "overloaded", 504: "timeout"}


class ApiError(Exception):
    """An HTTP failure with its one-line message (and headers such as Retry-After)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_body(status: int, message: str) -> dict[str, object]:
    return {"error": {"message": " ".join(message.split()), "type": _TYPES.get(status, "error"), "code": status}}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


def status_of(exc: RagError) -> int:
    """The HTTP status that says what kind of failure a library error is."""
    if isinstance(exc, CollectionNotFoundError | DocumentNotFoundError | ConversationNotFoundError):
        return 404
    if isinstance(exc, AccessDeniedError):
        return 403
    if isinstance(exc, GenerationTimeoutError):
        return 504
    if isinstance(exc, IndexBusyError | OllamaUnavailableError):
        return 503
    if isinstance(exc, EmbedderMismatchError):
        return 409
    if isinstance(exc, IndexError_):
        return 500
    if isinstance(exc, SettingsError):
        return 422
    return 400


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into ``error_body``."""

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(RagError)
    async def _rag(request: Request, exc: RagError) -> JSONResponse:
        status = status_of(exc)
        return error_response(status, str(exc), {"Retry-After": "30"} if status == 503 else None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return error_response(422, f"malformed request: {where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        route = getattr(request.scope.get("route"), "path", "?")  # the template: no names from the request
        log.error("internal error on %s %s: %s", request.method, route, type(exc).__name__, exc_info=exc)
        return error_response(500, "internal error: see the server's log")
