"""/healthz (the process answers), /livez (its background components have not given up),
/readyz (it can do its work: PostgreSQL and the bus answer, components run), /metrics (behind
the bearer token RW_HTTP__METRICS_TOKEN when it is set).

Readiness runs its checks concurrently, each within `CHECK_TIMEOUT_S`: a probe never hangs
on a full connection pool or an unreachable broker, it answers 503 saying which check failed.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from riskwatch.common.errors import Unauthorized

router = APIRouter(tags=["health"])


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str | None = None


ReadinessCheck = Callable[[], Awaitable[CheckResult]]
CHECK_TIMEOUT_S = 2.0


def database_check(engine: AsyncEngine) -> ReadinessCheck:
    async def check() -> CheckResult:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return CheckResult("database", True)

    return named("database", check)


def named(name: str, check: ReadinessCheck) -> ReadinessCheck:
    """`check` bounded by CHECK_TIMEOUT_S, its failure a result rather than an exception."""

    async def bounded() -> CheckResult:
        try:
            return await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
        except TimeoutError:
            return CheckResult(name, False, f"no answer within {CHECK_TIMEOUT_S:g} s")
        except Exception as exc:
            return CheckResult(name, False, type(exc).__name__)

    return bounded


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/livez", include_in_schema=False)
async def livez(request: Request) -> JSONResponse:
    """503 once a background component has given up restarting: restart the process."""
    failed: Callable[[], list[str]] | None = getattr(request.app.state, "failed_components", None)
    names = failed() if failed is not None else []
    if names:
        return JSONResponse({"status": "failed", "components": names}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    checks: list[ReadinessCheck] = getattr(request.app.state, "readiness_checks", [])
    if not getattr(request.app.state, "started", False):
        return JSONResponse({"status": "starting"}, status_code=503)
    results = await asyncio.gather(*(check() for check in checks))
    body = {
        "status": "ready" if all(r.ok for r in results) else "not-ready",
        "checks": {
            r.name: {"ok": r.ok, **({"detail": r.detail} if r.detail else {})} for r in results
        },
    }
    return JSONResponse(body, status_code=200 if body["status"] == "ready" else 503)


async def metrics_access(request: Request) -> None:
    """With RW_HTTP__METRICS_TOKEN set, /metrics answers only a scraper that presents it."""
    settings = getattr(request.app.state, "settings", None)
    token = settings.http.metrics_token if settings is not None else None
    if token is None:
        return
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), expected):
        raise Unauthorized("The metrics need the bearer token of RW_HTTP__METRICS_TOKEN.")


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(metrics_access)])
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
