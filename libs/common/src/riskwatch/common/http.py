"""ASGI middleware: request id, trace context and log context per request, and HTTP metrics."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from riskwatch.common import metrics
from riskwatch.common.tracing import current_traceparent, new_trace, parse_traceparent

_UNMATCHED = "<unmatched>"
# A client's X-Request-Id is kept only if it is this: it goes into logs, the audit trail and
# answers, where a line break, markup or a megabyte of it would do harm.
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def request_id_of(header: str | None) -> str:
    """The client's request id if it is well-formed, else a new one."""
    if header is not None and REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = request_id_of(headers.get("x-request-id"))
        incoming = parse_traceparent(headers.get("traceparent"))
        trace = incoming.child() if incoming else new_trace()
        scope.setdefault("state", {})["request_id"] = request_id
        token = current_traceparent.set(trace.traceparent)
        status = 500
        started = time.perf_counter()

        async def send_with_ids(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [
                    (b"x-request-id", request_id.encode()),
                    (b"traceparent", trace.traceparent.encode()),
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            with structlog.contextvars.bound_contextvars(
                request_id=request_id, trace_id=trace.trace_id
            ):
                await self.app(scope, receive, send_with_ids)
        finally:
            current_traceparent.reset(token)
            route = scope.get("route")
            template = getattr(route, "path", None) or _UNMATCHED
            method = scope.get("method", "")
            metrics.HTTP_REQUESTS.labels(method, template, str(status)).inc()
            metrics.HTTP_SECONDS.labels(method, template).observe(time.perf_counter() - started)
