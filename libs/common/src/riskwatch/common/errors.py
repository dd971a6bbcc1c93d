"""Errors: domain code raises `AppError` subclasses; HTTP turns them into RFC 9457 problem+json.

An unexpected exception becomes a generic 500 whose body names the request id, never the
exception text: the trace goes to the log, not to the client.
"""

from __future__ import annotations

from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://riskwatch.dev/problems/"

log = structlog.get_logger(__name__)


class AppError(Exception):
    """Base of every error that domain and service code raise on purpose."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class Invalid(AppError):
    status = 422
    code = "invalid"
    title = "Invalid input"


class NotFound(AppError):
    status = 404
    code = "not-found"
    title = "Not found"


class Conflict(AppError):
    status = 409
    code = "conflict"
    title = "Conflict"


class InvalidState(AppError):
    status = 409
    code = "invalid-state"
    title = "Not allowed in the current state"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class Unavailable(AppError):
    status = 503
    code = "unavailable"
    title = "Service unavailable"


def problem(
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None,
    request: Request,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    # Extensions add members; they never overwrite the standard ones (RFC 9457 section 3.2).
    body.update({k: v for k, v in extensions.items() if k not in body})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    async def on_app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)  # noqa: S101 - registered for AppError only
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem(
            status=exc.status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            request=request,
            headers=headers,
            **exc.extensions,
        )

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)  # noqa: S101
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return problem(
            status=422,
            code="invalid",
            title="Invalid input",
            detail="The request does not match the expected schema.",
            request=request,
            errors=errors,
        )

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101
        headers = dict(exc.headers) if exc.headers else None
        return problem(
            status=exc.status_code,
            code=f"http-{exc.status_code}",
            title=str(exc.detail) if exc.status_code < 500 else "Server error",
            detail=None,
            request=request,
            headers=headers,
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
        return problem(
            status=500,
            code="internal",
            title="Internal server error",
            detail="Something went wrong on our side; the request id identifies it in the logs.",
            request=request,
        )

    app.add_exception_handler(AppError, on_app_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
