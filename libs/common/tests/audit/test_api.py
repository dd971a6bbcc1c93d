"""GET /api/v1/audit in-process (httpx ASGITransport) on a real PostgreSQL and the in-process
bus: records sent by "other services" are chained by the consumer; only the audit
administrator reads them, and each read and each refusal is itself recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from riskwatch.common.app import build_app
from riskwatch.common.audit.housekeeping import partitions
from riskwatch.common.audit.models import AuditRecord
from riskwatch.common.audit.module import MIGRATIONS, AuditModule
from riskwatch.common.audit.months import months_ahead
from riskwatch.common.audit.verify import verify_trail
from riskwatch.common.bus import MemoryBus, record_for
from riskwatch.common.errors import PROBLEM_JSON
from riskwatch.common.events.audit import AuditRecorded
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.topics import AUDIT
from riskwatch.common.settings import DatabaseSettings, ServiceSettings
from riskwatch.common.testing import (
    TokenClaims,
    app_client,
    bearer,
    engine_for,
    eventually,
    migrate,
)

from . import factories as f

AUDIT_PATH = "/api/v1/audit"
AUDITOR = ("audit_admin",)
T = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def api_db(make_database: Callable[[str], str]) -> str:
    """Its own database: the app commits for real."""
    url = make_database("audit_api")
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture
async def engine(api_db: str) -> AsyncIterator[AsyncEngine]:
    engine = engine_for(api_db)
    yield engine
    await engine.dispose()


@pytest.fixture
def settings(api_db: str) -> ServiceSettings:
    return ServiceSettings(
        service_name="reporting", bus="memory", database=DatabaseSettings(url=api_db)
    )


@pytest.fixture
async def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
async def client(settings: ServiceSettings, bus: MemoryBus) -> AsyncIterator[httpx.AsyncClient]:
    # The trail alone keeps no accounts (reporting hosts it beside its projection): the
    # tokens' claims stand here, so each test can be any auditor or administrator.
    app = build_app(
        title="audit",
        settings=settings,
        modules=[AuditModule(settings)],
        bus=bus,
        accounts=TokenClaims(),
    )
    async with app_client(app) as c:
        c.headers.update(bearer(settings.auth, "auditor", roles=AUDITOR))
        yield c


async def count(engine: AsyncEngine, **where: Any) -> int:
    async with AsyncSession(engine) as s:
        stmt = select(func.count()).select_from(AuditRecord)
        for name, value in where.items():
            stmt = stmt.where(getattr(AuditRecord, name) == value)
        return int(await s.scalar(stmt) or 0)


async def send(bus: MemoryBus, envelopes: list[Envelope[AuditRecorded]]) -> None:
    await bus.publish([record_for(AUDIT, e, key=e.data.actor) for e in envelopes])


async def test_the_auditor_reads_the_trail_and_the_read_is_recorded(
    client: httpx.AsyncClient, bus: MemoryBus, engine: AsyncEngine
) -> None:
    sent = [
        f.event(actor="carol", action="devices.put", resource="devices/gas-1", at=T),
        f.event(actor="carol", action="auth.login", outcome="failure", resource=None, at=T),
    ]
    before = await count(engine, actor="carol")
    await send(bus, [*sent, sent[0]])  # the first one delivered twice: stored once
    await eventually(lambda: _at_least(engine, before + 2, actor="carol"))

    response = await client.get(AUDIT_PATH, params={"actor": "carol"})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["event_id"] for i in items[:2]] == [sent[1].id, sent[0].id]  # newest first
    assert await count(engine, actor="carol") == before + 2
    first = items[1]
    assert first["action"] == "devices.put"
    assert first["roles"] == ["business_admin"]
    assert first["at"] == "2026-11-10T08:00:00Z"
    assert len(first["hash"]) == len(first["prev_hash"]) == 64

    reads = await _reads(engine)
    assert reads[-1].actor == "auditor"
    assert reads[-1].roles == ["audit_admin"]
    assert reads[-1].resource == "audit?actor=carol"
    assert reads[-1].source_address == "127.0.0.1"
    assert (reads[-1].service, reads[-1].outcome, reads[-1].status) == ("audit", "success", 200)
    # The next read sees the previous one.
    again = (await client.get(AUDIT_PATH, params={"action": "audit.read", "limit": 1})).json()
    assert again["items"][0]["seq"] == reads[-1].seq


async def test_the_system_admin_is_refused_and_the_refusal_is_recorded(
    client: httpx.AsyncClient, settings: ServiceSettings, engine: AsyncEngine
) -> None:
    before = await count(engine, actor="sysadmin", action="access.denied")
    response = await client.get(
        AUDIT_PATH, headers=bearer(settings.auth, "sysadmin", roles=("system_admin",))
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_JSON
    await eventually(
        lambda: _at_least(engine, before + 1, actor="sysadmin", action="access.denied")
    )
    async with AsyncSession(engine) as s:
        denial = (
            await s.scalars(
                select(AuditRecord)
                .where(AuditRecord.actor == "sysadmin")
                .order_by(AuditRecord.seq.desc())
            )
        ).first()
    assert denial is not None
    assert (denial.outcome, denial.status, denial.resource) == ("denied", 403, "GET audit")
    assert denial.reason == "list_audit_records needs audit:read"


async def test_an_auditor_outside_the_district_scope_is_refused(
    client: httpx.AsyncClient, settings: ServiceSettings
) -> None:
    headers = bearer(settings.auth, "auditor-2", roles=AUDITOR, scope="sector:construction")
    response = await client.get(AUDIT_PATH, headers=headers)
    assert response.status_code == 403
    assert response.json()["detail"] == "The audit trail is read at district scope."


async def test_filters_and_cursor(
    client: httpx.AsyncClient, bus: MemoryBus, engine: AsyncEngine
) -> None:
    actor = "dave"
    sent = [
        f.event(actor=actor, service="ingest", resource="devices/a_1", at=T),
        f.event(actor=actor, service="ingest", resource="devices/ab1", at=T + timedelta(hours=1)),
        f.event(actor=actor, service="alerting", resource="rules/x", at=T + timedelta(hours=2)),
        f.event(
            actor=actor,
            service="alerting",
            action="access.denied",
            outcome="denied",
            resource="GET rules",
            at=T + timedelta(hours=3),
        ),
        f.event(
            actor=actor, service="notify", resource="notifications/n-1", at=T + timedelta(days=1)
        ),
    ]
    await send(bus, sent)
    await eventually(lambda: _at_least(engine, len(sent), actor=actor))

    async def ids(**params: Any) -> list[str]:
        response = await client.get(AUDIT_PATH, params={"actor": actor, **params})
        assert response.status_code == 200, response.text
        return [i["event_id"] for i in response.json()["items"]]

    e = [x.id for x in sent]
    assert await ids() == e[::-1]
    assert await ids(service="ingest") == [e[1], e[0]]
    assert await ids(resource="devices/a_") == [e[0]]  # a prefix, `_` taken literally
    assert await ids(outcome="denied") == [e[3]]
    assert await ids(action="access.denied") == [e[3]]
    assert await ids(**{"from": (T + timedelta(hours=1)).isoformat()}) == [e[4], e[3], e[2], e[1]]
    assert await ids(to=(T + timedelta(hours=2)).isoformat()) == [e[1], e[0]]

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"actor": actor, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = (await client.get(AUDIT_PATH, params=params)).json()
        pages.append([i["event_id"] for i in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == [[e[4], e[3]], [e[2], e[1]], [e[0]]]

    for bad in (
        {"cursor": "nope"},
        {"outcome": "maybe"},
        {"from": "yesterday"},
        {"actor": "a\x00"},
    ):
        response = await client.get(AUDIT_PATH, params=bad)
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == PROBLEM_JSON


async def test_housekeeping_runs_at_start_and_the_whole_trail_verifies(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await client.get(AUDIT_PATH)
    async with AsyncSession(engine) as s, s.begin():
        months = await eventually(lambda: _partitions_ahead(s))
        result = await verify_trail(s)
    assert months
    assert result.ok, result.problems
    assert result.checked > 0


async def _partitions_ahead(session: AsyncSession) -> bool:
    return set(months_ahead(datetime.now(UTC), 2)) <= set(await partitions(session))


async def _at_least(engine: AsyncEngine, n: int, **where: Any) -> bool:
    return await count(engine, **where) >= n


async def _reads(engine: AsyncEngine) -> list[AuditRecord]:
    async with AsyncSession(engine) as s:
        stmt = select(AuditRecord).where(AuditRecord.action == "audit.read")
        return list((await s.scalars(stmt.order_by(AuditRecord.seq))).all())
