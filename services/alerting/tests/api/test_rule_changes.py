"""Changing a rule over HTTP: the answer shows the new version, and a reading accepted after
that answer is evaluated with it on every replica, each with its own rule cache."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from riskwatch.alerting.app import create_app
from riskwatch.alerting.module import MIGRATIONS
from riskwatch.alerting.settings import AlertingSettings
from riskwatch.common.bus import MemoryBus, record_for
from riskwatch.common.events import new_event
from riskwatch.common.events.topics import readings_topic
from riskwatch.common.testing import account_bearer, app_client, eventually, migrate

from .. import factories as f


@pytest.fixture(scope="module")
async def rules_db(make_database: Callable[[str], str]) -> str:
    url = make_database("alerting_rule_changes")
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture
async def replicas(rules_db: str) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    """Two alerting processes of one sector on one bus and database: they split its
    partitions, and each has its own rule cache."""
    bus = MemoryBus()
    settings = AlertingSettings(
        bus="memory",
        sectors="construction",
        database={"url": rules_db},
        outbox_poll_interval_s=0.05,
    )
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for _ in range(2):
            app = create_app(settings, bus=bus)
            client = await stack.enter_async_context(app_client(app))
            client.headers.update(await account_bearer(app, settings.auth))
            clients.append(client)
        clients[0].bus = bus  # type: ignore[attr-defined]
        yield tuple(clients)


async def test_changing_a_threshold_answers_the_new_version(
    replicas: tuple[httpx.AsyncClient, ...],
) -> None:
    a = replicas[0]
    rule_id = f"gas-{uuid.uuid4().hex[:8]}"
    assert (
        await a.put(f"/api/v1/rules/{rule_id}", json=f.gas_rule().model_dump())
    ).status_code == 201
    changed = await a.put(f"/api/v1/rules/{rule_id}", json=f.gas_rule(red=40.0).model_dump())
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["red"], body["version"]) == (40.0, 2)
    assert body["updated_at"] >= body["created_at"]
    again = await a.get(f"/api/v1/rules/{rule_id}")
    assert (again.json()["red"], again.json()["version"]) == (40.0, 2)


async def test_a_reading_accepted_after_a_rule_change_is_evaluated_with_it_on_every_replica(
    replicas: tuple[httpx.AsyncClient, ...],
) -> None:
    a, b = replicas
    bus: MemoryBus = a.bus  # type: ignore[attr-defined]
    rule_id = f"gas-{uuid.uuid4().hex[:8]}"
    metric = f"ch4_{rule_id}"  # a metric of its own: other tests' rules stay out of it
    await a.put(f"/api/v1/rules/{rule_id}", json=f.gas_rule(metric=metric).model_dump())
    # Many devices, so both replicas' partitions (and caches) are used before the change.
    devices = [f.device(f"gas-rc-{uuid.uuid4().hex[:6]}-{i}") for i in range(12)]

    async def publish(value: float, hour: int) -> None:
        events = [
            new_event(
                f.batch(value, metric=metric, dev=d, start=f.T0.replace(hour=hour)),
                source="/test",
            )
            for d in devices
        ]
        await bus.publish(
            [
                record_for(readings_topic("construction"), e, key=d.device_id)
                for e, d in zip(events, devices, strict=True)
            ]
        )

    async def alarms() -> list[dict[str, object]]:
        found = []
        for d in devices:
            page = (await b.get("/api/v1/alarms", params={"device_id": d.device_id})).json()
            found += page["items"]
        return found

    await publish(30.0, 4)  # orange under version 1 (red at 50)
    first = await eventually(lambda: _all(alarms, len(devices)))
    assert {(x["level"], x["rule_version"]) for x in first} == {("orange", 1)}

    changed = await b.put(
        f"/api/v1/rules/{rule_id}", json=f.gas_rule(metric=metric, red=29.0).model_dump()
    )
    assert changed.json()["version"] == 2
    await publish(30.0, 5)  # accepted after the answer: red under version 2, everywhere

    async def escalated() -> list[dict[str, object]] | None:
        found = await alarms()
        return found if all(x["level"] == "red" for x in found) else None

    after = await eventually(escalated)
    assert {(x["level"], x["threshold"]) for x in after} == {("red", 29.0)}


async def _all(fetch: Callable[[], object], n: int) -> list[dict[str, object]] | None:
    found = await fetch()  # type: ignore[misc]
    return found if len(found) >= n else None


async def test_an_api_process_runs_the_relay_but_no_consumer(rules_db: str) -> None:
    """RW_ROLE=api (the api Deployment): HTTP and the outbox relay; consumers and
    housekeeping run in the worker Deployment."""
    settings = AlertingSettings(
        bus="memory", role="api", database={"url": rules_db}, outbox_poll_interval_s=0.05
    )
    app = create_app(settings, bus=MemoryBus())
    async with app_client(app) as client:
        client.headers.update(await account_bearer(app, settings.auth))
        assert [n.name for n in app.state.components] == ["alerting-outbox"]
        assert (await client.get("/api/v1/rules")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
