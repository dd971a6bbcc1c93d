"""/livez fails once a background component has given up restarting (and the app is told to
stop the process); /readyz checks PostgreSQL and the bus within a bound, and never hangs."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter

from riskwatch.common.app import Named, Runtime, build_app
from riskwatch.common.background import BackgroundTask
from riskwatch.common.bus import MemoryBus, TopicSpec
from riskwatch.common.settings import ServiceSettings
from riskwatch.common.testing import app_client, eventually


class AlwaysCrashes(BackgroundTask):
    async def _run(self) -> None:
        raise RuntimeError("broken for good")


class Module:
    name = "probe"
    migrations_dir: Path | None = None

    def __init__(self, settings: ServiceSettings, component: BackgroundTask | None) -> None:
        self.settings = settings
        self._component = component

    def routers(self) -> Sequence[APIRouter]:
        return []

    def topics(self, runtime: Runtime) -> Sequence[TopicSpec]:
        return []

    async def components(self, runtime: Runtime) -> Sequence[Named]:
        return [Named("worker", "crashes", self._component)] if self._component else []


class SilentBus(MemoryBus):
    """A broker that takes the connection and never answers."""

    async def check(self) -> None:
        await asyncio.Event().wait()


def settings(url: str) -> ServiceSettings:
    return ServiceSettings(bus="memory", database={"url": url})


async def test_a_component_that_keeps_crashing_fails_liveness_and_stops_the_process(
    contract_db: str,
) -> None:
    component = AlwaysCrashes("crashes")
    stop_requests: list[str] = []
    app = build_app(
        title="t",
        settings=settings(contract_db),
        modules=[Module(settings(contract_db), component)],
        on_component_failed=lambda: stop_requests.append("SIGTERM"),
    )
    async with app_client(app) as client:
        assert (await client.get("/livez")).status_code in (200, 503)

        async def failed() -> bool:
            return (await client.get("/livez")).status_code == 503

        await eventually(failed, timeout=60)
        body = (await client.get("/livez")).json()
        assert body == {"status": "failed", "components": ["crashes"]}
        assert stop_requests == ["SIGTERM"]
        assert component.health.crashes == 5
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["components"]["ok"] is False


async def test_readiness_answers_503_in_bounded_time_when_the_bus_does_not(
    contract_db: str,
) -> None:
    app = build_app(
        title="t",
        settings=settings(contract_db),
        modules=[Module(settings(contract_db), None)],
        bus=SilentBus(),
    )
    async with app_client(app) as client:
        # The client gives up after 5 s (httpx's default): a probe that hung would fail here.
        response = await client.get("/readyz")
        assert response.status_code == 503
        checks = response.json()["checks"]
        assert checks["bus"] == {"ok": False, "detail": "no answer within 2 s"}
        assert checks["database"] == {"ok": True}
        assert (await client.get("/livez")).status_code == 200
