"""The HTTP edge: what every request meets before a route runs, and what every answer carries
(RW_HTTP__*, docs/adr/0016-http-hardening.md).

Outermost first, inside the request context (request id, metrics): security headers, CORS (only
with RW_HTTP__CORS_ORIGINS), a rate limit per client address, a bearer token on /api/v1 before
any byte of the body is read, and a limit on the body's size. The limit per account needs the
verified caller, so it is a dependency (`limit_account`) that `build_app` gives the routers
whose every route authenticates. Refusals are problem+json, like every other error.
"""

from __future__ import annotations

import ipaddress
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import limits
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, APIRouter
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from riskwatch.common.access import Role
from riskwatch.common.auth import Principal, PrincipalDep, current_principal
from riskwatch.common.errors import TooManyRequests, Unauthorized, problem, problem_responses
from riskwatch.common.settings import HttpSettings, ServiceSettings

API_PREFIX = "/api/v1/"
# The routes of /api/v1 that take no token: logging in and what goes with it.
OPEN_ROUTES = frozenset(
    ("POST", f"/api/v1/auth/{name}") for name in ("token", "password", "refresh", "logout")
)
# Probes and scraping: never limited (an orchestrator that gets 429 restarts a healthy pod).
UNLIMITED_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/metrics"})
# A token is a JWT: three base64url parts. Its signature is checked by the route's dependency.
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_MAX_TOKEN_CHARS = 8192

# Content-Security-Policy of everything but the documentation pages (riskwatch.common.docs):
# JSON is never a document to render, so it may load nothing and be framed by nobody.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": API_CSP,
    "cross-origin-resource-policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"

# Routes of machines that carry bulk data (POST /api/v1/readings): (method, path) -> the
# largest body each takes. Their own admission meters them (ingest's batch slots and sector
# budgets, the per-gateway limit), so the per-address limit counts only their refusals.
BulkRoutes = Mapping[tuple[str, str], int]


def rate(value: str) -> limits.RateLimitItem | None:
    """A rate setting ("600/minute") as a `limits` item; None for "off"."""
    return None if value.strip().lower() == "off" else limits.parse(value)


def docs_enabled(settings: ServiceSettings) -> bool:
    """/docs, /redoc and /openapi.json: RW_HTTP__DOCS, by default on except in production."""
    if settings.http.docs is None:
        return settings.env != "production"
    return settings.http.docs == "on"


# -- refusals ------------------------------------------------------------------------------


class BodyTooLarge(StarletteHTTPException):
    """Raised from `receive` once a body has passed its limit. An HTTPException, so that
    FastAPI lets it through its body parsing (which turns other errors into a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail="Content too large")
        self.limit = limit


class AccountOverLimit(TooManyRequests):
    code = "account-rate-limited"
    title = "Too many requests from this account"


async def _refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> None:
    response = problem(
        status=status,
        code=code,
        title=title,
        detail=detail,
        request=Request(scope),
        headers=headers,
        **extensions,
    )
    await response(scope, receive, send)


def _too_large(request: Request, limit: int) -> JSONResponse:
    return problem(
        status=413,
        code="content-too-large",
        title="Content too large",
        detail=f"The body is larger than this operation takes ({limit} bytes).",
        request=request,
        max_bytes=limit,
    )


async def _body_too_large(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BodyTooLarge)  # noqa: S101 - registered for BodyTooLarge only
    return _too_large(request, exc.limit)


def _retry_after(limiter: MovingWindowRateLimiter, item: limits.RateLimitItem, key: str) -> int:
    reset_at = limiter.get_window_stats(item, key).reset_time
    return max(1, math.ceil(reset_at - time.time()))


# -- middleware ----------------------------------------------------------------------------


class SecurityHeadersMiddleware:
    """Headers that tell browsers not to sniff, frame, refer or cache; a route's own value of
    one wins (the documentation pages set their own Content-Security-Policy)."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = {**_HEADERS, **({"strict-transport-security": HSTS} if hsts else {})}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith(API_PREFIX)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                if api:  # answers about people and places: never kept by a cache
                    headers.setdefault("cache-control", "no-store")
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            # Starlette answers what no handler took outside every middleware, then re-raises
            # it (the server logs the trace again and drops the connection). Answered here
            # instead, by the app's handler for Exception (a generic 500 problem that logs the
            # trace once), it carries these headers and the request id like any answer.
            handler = getattr(scope.get("app"), "exception_handlers", {}).get(Exception)
            if started or handler is None:
                raise
            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send_with_headers)


def address_key(scope: Scope) -> str:
    """Whom the per-address limit counts: the client's IPv4 address, or its IPv6 /64 (one
    subscriber gets a whole /64 and could otherwise take a fresh address per request)."""
    client = scope.get("client")
    host = client[0] if client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


class AddressRateLimitMiddleware:
    """At most `item` requests per client address in a moving window, before authentication
    (so a flood without a valid token is refused too), probes and /metrics excepted.

    Routes in `refusals_only` (POST /api/v1/readings) count only the requests refused for
    want of a valid token: gateways share addresses (NAT, one aggregator for many) and their
    batches are metered per gateway account and by ingest's own admission, while a flood of
    made-up tokens, whose bodies are read before the token is verified, is still stopped.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        item: limits.RateLimitItem,
        refusals_only: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self.app = app
        self.item = item
        self.refusals_only = refusals_only
        # In memory, per process; the synchronous storage: its expiry runs in a timer thread
        # every 10 ms, where the asyncio one would hop to a thread for every key, every pass.
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        key = address_key(scope)
        if (scope["method"], scope["path"]) not in self.refusals_only:
            if self.limiter.hit(self.item, key):
                await self.app(scope, receive, send)
                return
        elif self.limiter.test(self.item, key):
            await self.app(scope, receive, self._count_refusals(key, send))
            return
        wait = _retry_after(self.limiter, self.item, key)
        await _refuse(
            scope,
            receive,
            send,
            status=429,
            code="address-rate-limited",
            title="Too many requests from this address",
            detail=f"At most {self.item.amount} requests per {_window(self.item)} from one "
            f"address; send again in {wait} s.",
            headers={"Retry-After": str(wait)},
            retry_after_s=wait,
        )

    def _count_refusals(self, key: str, send: Send) -> Send:
        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.limiter.hit(self.item, key)
            await send(message)

        return counting


def _window(item: limits.RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"


def _has_bearer(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return (
                scheme.lower() == "bearer"
                and len(token) <= _MAX_TOKEN_CHARS
                and _JWT.fullmatch(token) is not None
            )
    return False


class BearerRequiredMiddleware:
    """401 for /api/v1 (but its open routes) without `Authorization: Bearer <a JWT>`, before the
    body is read: a route reads its body before its dependencies verify the token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not scope["path"].startswith(API_PREFIX)
            or (scope["method"], scope["path"]) in OPEN_ROUTES
            or _has_bearer(scope)
        ):
            await self.app(scope, receive, send)
            return
        await _refuse(
            scope,
            receive,
            send,
            status=Unauthorized.status,
            code=Unauthorized.code,
            title=Unauthorized.title,
            detail="A bearer token is required.",
            headers={"WWW-Authenticate": "Bearer"},
        )


class BodyLimitMiddleware:
    """413 for a body larger than its route takes: at once when Content-Length says so, else
    as soon as the bytes read pass the limit (nothing beyond it is read)."""

    def __init__(self, app: ASGIApp, *, default: int, limits: BulkRoutes) -> None:
        self.app = app
        self.default = default
        self.limits = {k: v for k, v in limits.items() if "{" not in k[1]}
        # A route template ("/api/v1/workorders/{work_order_id}/attachments"): one path
        # segment per parameter.
        self.templates = [
            (method, re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"), limit)
            for (method, path), limit in limits.items()
            if "{" in path
        ]

    def _limit(self, method: str, path: str) -> int:
        found = self.limits.get((method, path))
        if found is not None:
            return found
        for template_method, pattern, limit in self.templates:
            if template_method == method and pattern.match(path):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["method"], scope["path"])
        if _content_length(scope) > limit:
            await _too_large(Request(scope), limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            # Read outside a route (whose exception handlers answer it there).
            if started:
                raise
            await _too_large(Request(scope), limit)(scope, receive, send)


def _content_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # the server refuses a malformed length before we see it
    return 0


# -- the limit per account -----------------------------------------------------------------


class AccountLimits:
    """Requests per verified account in a moving window, in memory, per process: people get
    RW_HTTP__RATE_PER_ACCOUNT, machine accounts (role gateway) RW_HTTP__RATE_PER_GATEWAY."""

    def __init__(
        self, *, people: limits.RateLimitItem | None, machines: limits.RateLimitItem | None
    ) -> None:
        self.people = people
        self.machines = machines
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, principal: Principal) -> None:
        machine = Role.GATEWAY.value in principal.roles
        item = self.machines if machine else self.people
        if item is None:
            return
        key = f"{'gateway' if machine else 'account'}:{principal.subject}"
        if self.limiter.hit(item, key):
            return
        wait = _retry_after(self.limiter, item, key)
        raise AccountOverLimit(
            f"At most {item.amount} requests per {_window(item)} from one account; "
            f"send again in {wait} s.",
            retry_after_s=wait,
        )


async def limit_account(request: Request, principal: PrincipalDep) -> None:
    """The dependency of every route behind a token: the caller's requests counted, by the
    principal the token's verification gave (the same one the route gets: FastAPI solves
    `current_principal` once per request)."""
    account_limits: AccountLimits | None = getattr(request.app.state, "account_limits", None)
    if account_limits is not None:
        account_limits.check(principal)


def every_route_authenticates(router: APIRouter) -> bool:
    """True when each route of `router` needs a verified caller: adding `limit_account` to it
    then asks nobody for a token who was not asked already."""
    routes = list(router.routes)
    return bool(routes) and all(
        isinstance(r, APIRoute) and _authenticates(r.dependant) for r in routes
    )


def _authenticates(dependant: Dependant) -> bool:
    return any(d.call is current_principal or _authenticates(d) for d in dependant.dependencies)


# -- installing it -------------------------------------------------------------------------


def install_edge(app: FastAPI, settings: HttpSettings, *, bulk_routes: BulkRoutes) -> None:
    """Add the edge's middleware to `app` (call before the request context middleware, which
    must stay outermost), its 413 handler, its per-account limits, and its answers (413, 429)
    to the OpenAPI document."""
    bulk_routes = dict(bulk_routes)
    app.add_exception_handler(BodyTooLarge, _body_too_large)
    app.state.account_limits = AccountLimits(
        people=rate(settings.rate_per_account), machines=rate(settings.rate_per_gateway)
    )
    # Starlette wraps the last added outermost.
    app.add_middleware(BodyLimitMiddleware, default=settings.max_body_bytes, limits=bulk_routes)
    app.add_middleware(BearerRequiredMiddleware)
    per_address = rate(settings.rate_per_address)
    if per_address is not None:
        app.add_middleware(
            AddressRateLimitMiddleware, item=per_address, refusals_only=frozenset(bulk_routes)
        )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-Id", "traceparent"],
            expose_headers=["X-Request-Id", "Retry-After", "WWW-Authenticate", "traceparent"],
            allow_credentials=False,  # bearer tokens, never cookies
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.behind_tls)
    _document_edge(app)


_EDGE_ANSWERS = problem_responses(
    413,
    429,
    descriptions={
        413: "The body is larger than this operation takes (RW_HTTP__MAX_BODY_BYTES unless it "
        "has its own limit)",
        429: "Too many requests from this address or account; retry after the seconds in "
        "Retry-After",
    },
)


def _document_edge(app: FastAPI) -> None:
    """Every operation may answer 429; every one that takes a body, 413. Documented on top of
    `errors.document_problems`, once, when FastAPI first generates the document."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        schema = generate()
        if fresh:
            for path_item in schema.get("paths", {}).values():
                for operation in path_item.values():
                    if not isinstance(operation, dict) or "responses" not in operation:
                        continue
                    responses: dict[str, Any] = operation["responses"]
                    responses.setdefault("429", _EDGE_ANSWERS[429])
                    if "requestBody" in operation:
                        responses.setdefault("413", _EDGE_ANSWERS[413])
                    operation["responses"] = dict(sorted(responses.items()))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
