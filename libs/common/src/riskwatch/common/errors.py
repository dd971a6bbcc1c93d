"""Errors: domain code raises `AppError` subclasses; HTTP turns them into RFC 9457 problem+json.

An unexpected exception becomes a generic 500 whose body names the request id, never the
exception text: the trace goes to the log, not to the client. The OpenAPI document says so too:
every error a route can answer is listed as problem+json with the `Problem` schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, ClassVar

import structlog
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from riskwatch.common.retry import is_transient, sqlstate_of

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://riskwatch.dev/problems/"
# SQLSTATE class 22, "data exception": a value PostgreSQL refuses (NUL in text, out of range).
DATA_EXCEPTION_CLASS = "22"

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

    def headers(self) -> dict[str, str] | None:
        """HTTP headers the answer carries beside the problem body."""
        return None


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

    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class TooManyRequests(AppError):
    """More than the caller may send now; it should retry after `retry_after_s`."""

    status = 429
    code = "too-many-requests"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_s: int, **extensions: Any) -> None:
        super().__init__(detail, retry_after_s=retry_after_s, **extensions)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after_s)}


class Unavailable(AppError):
    """A dependency (the database, the bus) is down; nothing was changed; retry later."""

    status = 503
    code = "unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str, *, retry_after_s: int = 2, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after_s)}


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


class Problem(BaseModel):
    """RFC 9457 problem details, as every error is answered. Members beyond these are
    extensions of one kind of problem: `errors` (what failed validation, or which readings
    were rejected), `field`, `max_items`..."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="URI of the kind of problem, under " + PROBLEM_BASE)
    title: str = Field(description="Short summary of the kind of problem")
    status: int = Field(description="The HTTP status code")
    instance: str = Field(description="The path of the request")
    detail: str | None = Field(default=None, description="What went wrong with this request")
    request_id: str | None = Field(default=None, description="Names the request in the logs")


_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_DESCRIPTIONS = {
    400: "The body cannot be parsed (for example, it is not UTF-8)",
    401: "No valid bearer token",
    403: "The caller's roles do not grant the permission this operation needs, or the "
    "change would reach outside its organisation scope",
    404: "Nothing has this id",
    409: "Not allowed in the current state",
    429: "More than may be sent now; retry after the seconds in Retry-After",
    422: "The request does not match the expected schema, or a value is not acceptable",
    500: "Something went wrong on our side; the request id identifies it in the logs",
    503: "The database or the event bus is not available now; nothing was changed; retry "
    "after the seconds in Retry-After",
}


def problem_responses(
    *statuses: int, descriptions: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route or router: each status answered as problem+json.

    400 (routes with a body), 401 (routes that take a token), 404 (routes with a path
    parameter), 422 (routes with parameters or a body) and 500 are documented on every route
    that can answer them; routes add what else their use case raises (409, 413...).
    """
    described = {**_DESCRIPTIONS, **(descriptions or {})}
    return {status: _problem_response(status, described.get(status)) for status in statuses}


def _problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description or HTTPStatus(status).phrase,
        "content": {PROBLEM_JSON: {"schema": dict(_PROBLEM_REF)}},
    }
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {
                "description": "The scheme to use: Bearer",
                "schema": {"type": "string"},
            }
        }
    if status in (429, 503):
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before sending again",
                "schema": {"type": "integer"},
            }
        }
    return response


_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
_FASTAPI_422 = "#/components/schemas/HTTPValidationError"


def _document_problems(schema: dict[str, Any]) -> None:
    """Add the errors a route can answer by its shape to an OpenAPI document generated by
    FastAPI, which documents its validation errors as application/json of its own shape and
    knows nothing of the 401 and 403 of `auth.require`, nor of the handlers below."""
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            default_422 = responses.get("422", {}).get("content", {}).get("application/json")
            if default_422 is not None and default_422.get("schema", {}).get("$ref") == (
                _FASTAPI_422
            ):
                responses["422"] = _problem_response(422, _DESCRIPTIONS[422])
            if "requestBody" in operation:  # FastAPI's answer to a body it cannot decode
                responses.setdefault("400", _problem_response(400, _DESCRIPTIONS[400]))
            if operation.get("security"):
                responses.setdefault("401", _problem_response(401, _DESCRIPTIONS[401]))
                # Every route behind a token needs a permission (auth.require).
                responses.setdefault("403", _problem_response(403, _DESCRIPTIONS[403]))
            if any(p.get("in") == "path" for p in operation.get("parameters", [])):
                # A path parameter names something, and a client may name what does not exist.
                responses.setdefault("404", _problem_response(404, _DESCRIPTIONS[404]))
            responses.setdefault("500", _problem_response(500, _DESCRIPTIONS[500]))
            if operation.get("security"):  # everything behind a token reads or writes the database
                responses.setdefault("503", _problem_response(503, _DESCRIPTIONS[503]))
            operation["responses"] = dict(sorted(responses.items()))
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    if _FASTAPI_422 not in json.dumps(schema.get("paths", {})):
        # No answer has FastAPI's validation error shape any more.
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schema["components"]["schemas"] = dict(sorted(schemas.items()))


def document_problems(app: FastAPI) -> None:
    """Make `app.openapi()` document problem+json answers (see `_document_problems`)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()  # FastAPI caches it in app.openapi_schema
            _document_problems(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def is_data_exception(exc: DBAPIError) -> bool:
    """A value of the request that the database cannot take (SQLSTATE class 22): the client's
    fault, not ours. PostgreSQL answers it for NUL in text or a number out of range; asyncpg
    raises the same class for a parameter it refuses to send (an int beyond int64)."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(DATA_EXCEPTION_CLASS)


# What a client is told to wait when a dependency is down: long enough not to hammer a
# recovering database or broker, short enough that a gateway's buffer does not fill.
RETRY_AFTER_UNAVAILABLE_S = 2


def unavailable(request: Request, exc: BaseException) -> JSONResponse:
    """503 with Retry-After for a failure of the infrastructure (nothing was committed)."""
    log.warning(
        "dependency_unavailable",
        path=request.url.path,
        error_type=type(exc).__name__,
        sqlstate=sqlstate_of(exc),
    )
    return problem(
        status=503,
        code=Unavailable.code,
        title=Unavailable.title,
        detail="A service this request needs (the database or the event bus) is not available "
        "right now; nothing was changed. Send it again after Retry-After seconds.",
        request=request,
        headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE_S)},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error as problem+json, and document it so in the app's OpenAPI."""
    document_problems(app)

    async def on_app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)  # noqa: S101 - registered for AppError only
        headers = exc.headers()
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

    async def on_database_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DBAPIError)  # noqa: S101
        if is_transient(exc):
            return unavailable(request, exc)
        if not is_data_exception(exc):
            raise exc  # ours, not the client's: on to the generic 500 below
        # The safety net behind the checks at the edge (riskwatch.common.inputs): a value that
        # PostgreSQL cannot store or compare is the request's fault, not ours. What the database
        # said goes to the log, never the SQL nor its parameters; the client gets neither.
        log.warning(
            "data_exception",
            path=request.url.path,
            sqlstate=getattr(exc.orig, "sqlstate", None),
            reason=str(exc.orig),
        )
        return problem(
            status=422,
            code="invalid",
            title="Invalid input",
            detail="A value in the request cannot be stored or searched for "
            "(for example text with a NUL character, or a number out of range).",
            request=request,
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_transient(exc):  # the broker, a connection, a pool: not a bug, an outage
            return unavailable(request, exc)
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
    app.add_exception_handler(DBAPIError, on_database_error)
    # Infrastructure failures by class, so that Starlette answers them where it answers our
    # own errors: a handler for `Exception` runs in its outermost middleware, which re-raises
    # after answering (uvicorn then logs a traceback and drops the keep-alive connection).
    for infrastructure in (OSError, TimeoutError, KafkaError, PoolTimeoutError):
        app.add_exception_handler(infrastructure, on_unexpected)
    app.add_exception_handler(Exception, on_unexpected)
