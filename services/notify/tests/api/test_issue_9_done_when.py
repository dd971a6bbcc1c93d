"""Issue 9's "done when", through the running notify service (in-process API, real PostgreSQL,
the SMS platform and voice gateway played by the provider double on a real port, alarms arriving
on the bus, the real clock with short waits set over the API):

- a red alarm nobody acknowledges walks through its steps in order with the configured waits,
  voice included; a keypress on the voice call acknowledges it and stops it;
- with the SMS provider down, the voice fallback is used and nothing is sent twice;
- 200 alarms to one person arrive as capped messages plus a digest.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from riskwatch.common.bus import MemoryBus, record_for
from riskwatch.common.catalog import default_catalog
from riskwatch.common.events import Level
from riskwatch.common.events.topics import ALARMS
from riskwatch.common.settings import DatabaseSettings
from riskwatch.common.testing import account_bearer, app_client, engine_for, eventually, migrate
from riskwatch.notify.app import create_app
from riskwatch.notify.duty.models import Person
from riskwatch.notify.module import MIGRATIONS
from riskwatch.notify.notifications.models import Notification
from riskwatch.notify.notifications.storm import window_of
from riskwatch.notify.notifications.storm_service import caps_from
from riskwatch.notify.settings import NotifySettings
from riskwatch.notify.testing.providers import ProviderDouble, serving

from .. import factories as f

TOKEN = "double-token"
ON_DUTY_RED = ["d1", "l1", "l3", "s1"]  # street, sector and district centers (factories)


@pytest.fixture(scope="module")
def served() -> Iterator[ProviderDouble]:
    with serving(token=TOKEN) as double:
        yield double


@dataclass
class Platform:
    client: httpx.AsyncClient
    bus: MemoryBus
    double: ProviderDouble
    settings: NotifySettings
    db: str
    admin: dict[str, str]

    async def rows(self, alarm_id: str | None = None, **where: Any) -> list[Notification]:
        engine = engine_for(self.db)
        try:
            async with engine.connect() as conn:
                stmt = select(Notification.__table__)
                if alarm_id is not None:
                    stmt = stmt.where(Notification.alarm_id == alarm_id)
                for name, value in where.items():
                    stmt = stmt.where(getattr(Notification, name) == value)
                return list((await conn.execute(stmt.order_by(Notification.created_at))).all())  # type: ignore[arg-type]
        finally:
            await engine.dispose()

    async def raise_alarm(self, level: Level) -> str:
        alarm = f.alarm(level, alarm_id=str(uuid.uuid4()))
        await self.bus.publish([record_for(ALARMS, f.raised(alarm))])
        return alarm.alarm_id

    async def put_policy(self, level: Level, steps: list[dict[str, Any]]) -> None:
        answer = await self.client.put(
            "/api/v1/escalation-policies",
            json={"policies": {level.value: {"steps": steps}}},
            headers=self.admin,
        )
        assert answer.status_code == 200, answer.text


def platform_fixture(**overrides: Any) -> Callable[..., AsyncIterator[Platform]]:
    async def fixture(
        make_database: Callable[[str], str], served: ProviderDouble
    ) -> AsyncIterator[Platform]:
        served.reset()
        db = make_database("notify_done_when")
        await migrate(db, [MIGRATIONS])
        engine = engine_for(db)
        async with async_sessionmaker(engine)() as session, session.begin():
            await f.add_roster(session, now=datetime.now(UTC))
            session.add(Person(person_id="mayor", name="District leader", phone="+8613900000001"))
        await engine.dispose()
        settings = NotifySettings(
            bus="memory",
            database=DatabaseSettings(url=db),
            outbox_poll_interval_s=0.05,
            sms_provider="http",
            sms_http_url=served.sms_url,
            sms_http_token=SecretStr(TOKEN),
            voice_provider="http",
            voice_http_url=served.voice_url,
            voice_http_token=SecretStr(TOKEN),
            dispatcher_poll_interval_s=0.1,
            dispatcher_retry_initial_s=0.1,
            dispatcher_retry_max_s=0.2,
            dispatcher_max_attempts=10,
            escalation_poll_s=0.2,
            **overrides,
        )
        bus = MemoryBus()
        app = create_app(settings, bus=bus)
        async with app_client(app) as client:
            admin = await account_bearer(app, settings.auth, "biz.admin", roles=("business_admin",))
            gateway = await account_bearer(
                app, settings.auth, "provider.gateway", roles=("gateway",)
            )
            await account_bearer(app, settings.auth, "mayor", roles=("leader",))
            served.callback_headers = gateway
            yield Platform(client, bus, served, settings, db, admin)

    return fixture


platform = pytest.fixture(platform_fixture())
storm_platform = pytest.fixture(platform_fixture(storm_window_min=0.5, storm_sms_per_window=10))


def seconds(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


async def test_a_red_alarm_walks_its_steps_until_a_keypress_acknowledges_it(
    platform: Platform,
) -> None:
    p = platform
    await p.put_policy(
        Level.RED,
        [
            {"after_min": 0, "targets": [{"kind": "on_duty"}], "channels": ["in_app", "sms"]},
            {"after_min": 0.05, "targets": [{"kind": "on_duty"}], "channels": ["voice"]},
            {"after_min": 0.1, "targets": [{"kind": "district_leader"}], "channels": ["sms"]},
            {"after_min": 30, "targets": [{"kind": "department_head"}], "channels": ["sms"]},
        ],
    )
    alarm_id = await p.raise_alarm(Level.RED)

    async def third_step() -> list[Notification]:
        return [r for r in await p.rows(alarm_id) if r.step == 2]

    assert await eventually(third_step, timeout=60)
    rows = await p.rows(alarm_id)
    by_step: dict[int, list[Notification]] = defaultdict(list)
    for row in rows:
        by_step[row.step].append(row)
    assert sorted(by_step) == [0, 1, 2]
    assert sorted((r.person_id, r.channel) for r in by_step[0]) == sorted(
        (person, channel) for person in ON_DUTY_RED for channel in ("in_app", "sms")
    )
    assert sorted((r.person_id, r.channel) for r in by_step[1]) == [
        (person, "voice") for person in ON_DUTY_RED
    ]
    assert [(r.person_id, r.channel) for r in by_step[2]] == [("mayor", "sms")]
    # In order, each after its wait (3 s, then 6 s from the start): never early.
    started = min(r.created_at for r in by_step[0])
    assert seconds(started, min(r.created_at for r in by_step[1])) >= 3
    assert seconds(started, min(r.created_at for r in by_step[2])) >= 6

    # The calls went out through the voice gateway, once each; l1 presses 1.
    async def calls_placed() -> bool:
        keys = {c.out_id for c in p.double.calls}
        return all(r.idempotency_key in keys for r in by_step[1])

    assert await eventually(calls_placed, timeout=30)
    l1_call = next(r for r in by_step[1] if r.person_id == "l1")
    await p.double.post_voice_callback(l1_call.idempotency_key, dtmf="1", client=p.client)
    escalation = (await p.client.get(f"/api/v1/escalations/{alarm_id}", headers=p.admin)).json()
    assert escalation["status"] == "acknowledged"
    assert (escalation["acknowledged_by"], escalation["acknowledged_via"]) == ("l1", "voice")
    assert escalation["next_step_at"] is None
    assert [s["fired"] for s in escalation["schedule"]] == [True, True, True, False]
    acked = next(r for r in await p.rows(alarm_id) if r.notification_id == l1_call.notification_id)
    assert (acked.status, acked.acknowledged_via) == ("acknowledged", "voice")


async def test_with_the_sms_provider_down_the_voice_fallback_is_used_once(
    platform: Platform,
) -> None:
    p = platform
    p.double.fail_next(100_000, kind="sms", status=503)
    await p.put_policy(
        Level.RED,
        [{"after_min": 0, "targets": [{"kind": "on_duty"}], "channels": ["in_app", "sms"]}],
    )
    alarm_id = await p.raise_alarm(Level.RED)

    async def fallen_back() -> list[Notification]:
        voice = await p.rows(alarm_id, channel="voice")
        placed = {c.out_id for c in p.double.calls}
        return voice if len(voice) == 4 and all(r.idempotency_key in placed for r in voice) else []

    voice = await eventually(fallen_back, timeout=60)
    sms = await p.rows(alarm_id, channel="sms")
    assert sorted(r.person_id for r in voice) == ON_DUTY_RED
    assert {r.fallback_of for r in voice} == {r.notification_id for r in sms}
    assert all(r.idempotency_key.endswith(":fallback:voice") for r in voice)
    assert {r.status for r in sms} == {"failed"}
    assert all("voice" in (r.last_error or "") for r in sms)
    # Nothing sent twice: no SMS reached anyone, and each call was asked for once.
    assert [s for s in p.double.sms if s.out_id.startswith(alarm_id)] == []
    asked = Counter(
        s.out_id for s in p.double.requests if s.kind == "voice" and s.out_id.startswith(alarm_id)
    )
    assert set(asked.values()) == {1}
    assert len(asked) == 4


async def test_200_alarms_reach_one_person_as_capped_messages_and_a_digest(
    storm_platform: Platform,
) -> None:
    p = storm_platform
    ids = [await p.raise_alarm(Level.YELLOW) for _ in range(200)]
    phone = f.phone_of("l1")

    async def all_planned() -> list[Notification]:
        rows = [r for r in await p.rows(person_id="l1", channel="sms") if r.topic == "alarm"]
        return rows if len(rows) == 200 else []

    rows = await eventually(all_planned, timeout=120)
    assert {r.alarm_id for r in rows} == set(ids)
    caps = caps_from(p.settings, default_catalog().district.zone)
    windows: dict[datetime, Counter[str]] = defaultdict(Counter)
    for r in rows:
        windows[window_of(r.created_at, caps)[0]][r.status] += 1
    digests = [r for r in await p.rows(person_id="l1", channel="sms") if r.topic == "digest"]
    suppressed_windows = [w for w, c in windows.items() if c["suppressed"]]
    # At most 10 SMS a window; what the cap held back counted in that window's one digest.
    assert all(sum(c.values()) - c["suppressed"] <= 10 for c in windows.values())
    assert sum(c["suppressed"] for c in windows.values()) >= 200 - 10 * len(windows)
    assert len(digests) == len(suppressed_windows)
    for digest in digests:
        # Its window is that of its first held-back SMS (the row's created_at): once claimed by
        # the dispatcher, next_attempt_at is a lease's end, no longer the window's.
        start = window_of(digest.created_at, caps)[0]
        held = windows[start]["suppressed"]
        assert f"另有{held}条通知" in digest.message

    # The person's phone: the capped messages, then each digest at its window's end.
    async def digests_arrived() -> bool:
        texts = [str(s.template_param.get("content", "")) for s in p.double.sms_to(phone)]
        return sum("另有" in t for t in texts) == len(digests)

    assert await eventually(digests_arrived, timeout=90)
    received = p.double.sms_to(phone)
    assert len(received) == 200 - sum(c["suppressed"] for c in windows.values()) + len(digests)
    assert len(received) <= 10 * len(windows) + len(digests)
