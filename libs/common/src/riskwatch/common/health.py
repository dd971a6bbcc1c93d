"""/healthz (the process is alive), /readyz (it can do its work), /metrics (Prometheus)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

router = APIRouter(tags=["health"])


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str | None = None


ReadinessCheck = Callable[[], Awaitable[CheckResult]]


def database_check(engine: AsyncEngine) -> ReadinessCheck:
    async def check() -> CheckResult:
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            return CheckResult("database", False, type(exc).__name__)
        return CheckResult("database", True)

    return check


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    checks: list[ReadinessCheck] = getattr(request.app.state, "readiness_checks", [])
    if not getattr(request.app.state, "started", False):
        return JSONResponse({"status": "starting"}, status_code=503)
    results = [await check() for check in checks]
    body = {
        "status": "ready" if all(r.ok for r in results) else "not-ready",
        "checks": {
            r.name: {"ok": r.ok, **({"detail": r.detail} if r.detail else {})} for r in results
        },
    }
    return JSONResponse(body, status_code=200 if body["status"] == "ready" else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
