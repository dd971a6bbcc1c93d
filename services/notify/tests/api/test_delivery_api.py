"""Delivery over the notify API in-process (real PostgreSQL; the SMS and voice providers are the
provider double served by uvicorn): the running dispatcher sends through the template SMS API
and the voice gateway; the providers' receipts and callbacks, repeated, settle a notification
once; keypress 1 acknowledges; with the SMS provider failing an alarm's SMS falls back to a
voice call, and nothing is sent twice; the delivery log is readable by whoever may read the
notification; only provider accounts may post callbacks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.bus import MemoryBus
from riskwatch.common.settings import DatabaseSettings
from riskwatch.common.testing import account_bearer, app_client, engine_for, eventually, migrate
from riskwatch.notify.app import create_app
from riskwatch.notify.module import MIGRATIONS
from riskwatch.notify.notifications import service
from riskwatch.notify.notifications.domain import ChannelKind, mask_recipient
from riskwatch.notify.settings import NotifySettings
from riskwatch.notify.testing.providers import ProviderDouble, serving

from .. import factories as f

TOKEN = "double-token"


@pytest.fixture(scope="module")
async def delivery_db(make_database: Callable[[str], str]) -> str:
    url = make_database("notify_delivery_api")
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture(scope="module")
def served() -> Iterator[ProviderDouble]:
    with serving(token=TOKEN) as double:
        yield double


@pytest.fixture
def double(served: ProviderDouble) -> ProviderDouble:
    served.reset()
    return served


@dataclass
class Api:
    client: httpx.AsyncClient
    headers: dict[str, dict[str, str]]
    db: str

    async def get(self, path: str, who: str = "officer") -> Any:
        response = await self.client.get(path, headers=self.headers[who])
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
async def api(delivery_db: str, served: ProviderDouble) -> AsyncIterator[Api]:
    settings = NotifySettings(
        bus="memory",
        database=DatabaseSettings(url=delivery_db),
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
        fallback_after_failures=2,
        breaker_failures=50,
    )
    app = create_app(settings, bus=MemoryBus())
    async with app_client(app) as client:
        headers = {
            "gateway": await account_bearer(
                app, settings.auth, "provider.gateway", roles=("gateway",)
            ),
            "officer": await account_bearer(app, settings.auth, "d.officer", roles=("handler",)),
            "lujiazui": await account_bearer(
                app, settings.auth, "lj.handler", roles=("handler",), scope="town:lujiazui"
            ),
            "gaoqiao": await account_bearer(
                app, settings.auth, "gq.handler", roles=("handler",), scope="town:gaoqiao"
            ),
            # The person notified, whose account's scope is elsewhere: they still see theirs.
            "l1": await account_bearer(
                app, settings.auth, "l1", roles=("handler",), scope="town:gaoqiao"
            ),
        }
        yield Api(client, headers, delivery_db)


async def add(api: Api, channel: ChannelKind, person_id: str = "l1") -> tuple[str, str]:
    """A pending notification of a red alarm in Lujiazui, due now; (id, idempotency key)."""
    now = datetime.now(UTC)
    alarm_id = str(uuid.uuid4())
    key = f"{alarm_id}:red:0.0:{person_id}:{channel.value}"
    row: dict[str, object] = {
        "notification_id": str(uuid.uuid4()),
        "topic": "alarm",
        "alarm_id": alarm_id,
        "sector_id": "construction",
        "town_id": "lujiazui",
        "level": "red",
        "duty_center_id": "street-lujiazui",
        "person_id": person_id,
        "channel": channel.value,
        "recipient": f.phone_of(person_id),
        "message": "[RiskWatch] RED alarm gas-lel at Gas well 1. Alarm 1a2b3c4d.",
        "status": "pending",
        "idempotency_key": key,
        "attempts": 0,
        "next_attempt_at": now,
        "alarm_received_at": now - timedelta(seconds=2),
        "created_at": now,
    }
    engine = engine_for(api.db)
    try:
        async with AsyncSession(engine) as session, session.begin():
            [notification_id] = await service.insert_notifications(session, [row], now=now)
    finally:
        await engine.dispose()
    return notification_id, key


async def status_of(api: Api, notification_id: str) -> dict[str, Any]:
    found: dict[str, Any] = await api.get(f"/api/v1/notifications/{notification_id}")
    return found


async def until_status(api: Api, notification_id: str, *statuses: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        found = await status_of(api, notification_id)
        return found if found["status"] in statuses else None

    result = await eventually(reached)
    assert result is not None
    return result


async def test_sms_receipts_repeated_over_http_settle_it_once(
    api: Api, double: ProviderDouble
) -> None:
    notification_id, key = await add(api, ChannelKind.SMS)
    await until_status(api, notification_id, "sent")
    double.callback_headers = api.headers["gateway"]
    answers = await double.post_sms_receipts(out_ids=[key], times=3, client=api.client)
    assert [a.status_code for a in answers] == [200] * 3
    assert [(a.json()["code"], a.json()["applied"], a.json()["duplicates"]) for a in answers] == [
        (0, 1, 0),
        (0, 0, 1),
        (0, 0, 1),
    ]
    delivered = await status_of(api, notification_id)
    assert (delivered["status"], delivered["provider_message_id"]) == (
        "delivered",
        double.sms[0].biz_id,
    )
    log = (await api.get(f"/api/v1/notifications/{notification_id}/attempts"))["items"]
    assert [(a["attempt"], a["outcome"], a["provider"]) for a in log] == [
        (1, "accepted", "sms-http"),
        (1, "receipt", "sms-http"),
    ]
    assert log[0]["request"] == {"to": mask_recipient("sms", f.phone_of("l1"))}
    assert log[0]["latency_ms"] is not None
    assert log[1]["request"]["status"] == "delivered"
    # What the platform was asked: the generic template with the text, the key as out id.
    [sent] = double.sms
    assert (sent.out_id, sent.template_code, sent.template_param) == (
        key,
        "SMS_RISKWATCH_GENERIC",
        {"content": "[RiskWatch] RED alarm gas-lel at Gas well 1. Alarm 1a2b3c4d."},
    )


async def test_keypress_one_over_http_acknowledges_for_the_person_called(
    api: Api, double: ProviderDouble
) -> None:
    notification_id, key = await add(api, ChannelKind.VOICE, person_id="l1")
    await until_status(api, notification_id, "sent")
    double.callback_headers = api.headers["gateway"]
    answers = await double.post_voice_callback(key, dtmf="1", times=2, client=api.client)
    assert [(a.json()["outcome"], a.json()["acknowledged"]) for a in answers] == [
        ("applied", True),
        ("duplicate", False),
    ]
    acked = await status_of(api, notification_id)
    assert (acked["status"], acked["acknowledged_by"]) == ("acknowledged", "l1")


async def test_with_the_sms_provider_failing_the_alarm_is_a_voice_call_sent_once(
    api: Api, double: ProviderDouble
) -> None:
    double.fail_next(1000, kind="sms")
    notification_id, key = await add(api, ChannelKind.SMS, person_id="l3")

    async def called() -> bool:
        return len(double.calls) == 1

    await eventually(called)
    given_up = await until_status(api, notification_id, "failed")
    assert given_up["attempts"] == 2
    assert given_up["last_error"] == "SMS provider answered HTTP 500; fell back to voice"
    [call] = double.calls
    assert (call.out_id, call.called_number) == (key + ":fallback:voice", f.phone_of("l3"))
    assert double.sms == []  # every SMS attempt failed before sending
    calls = await api.client.get(
        "/api/v1/notifications",
        params={"person_id": "l3", "channel": "voice"},
        headers=api.headers["officer"],
    )
    [voice] = [n for n in calls.json()["items"] if n["provider_message_id"] == call.call_id]
    assert voice["status"] == "sent"
    log = (await api.get(f"/api/v1/notifications/{notification_id}/attempts"))["items"]
    assert [(a["attempt"], a["outcome"]) for a in log] == [(1, "failed"), (2, "failed")]
    assert all(a["error"] == "SMS provider answered HTTP 500" for a in log)


async def test_the_log_is_as_visible_as_its_notification(api: Api, double: ProviderDouble) -> None:
    notification_id, _ = await add(api, ChannelKind.IN_APP)
    await until_status(api, notification_id, "delivered")
    path = f"/api/v1/notifications/{notification_id}/attempts"
    for who in ("officer", "lujiazui", "l1"):
        [attempt] = (await api.get(path, who))["items"]
        assert (attempt["outcome"], attempt["provider"]) == ("delivered", "in_app")
    outside = await api.client.get(path, headers=api.headers["gaoqiao"])
    assert outside.status_code == 404
    assert outside.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/sms/receipts", [{"biz_id": "b", "success": True}]),
        ("/api/v1/voice/callbacks", {"call_id": "c", "status": "answered", "dtmf": "1"}),
    ],
)
async def test_only_provider_accounts_may_post_callbacks(api: Api, path: str, body: object) -> None:
    refused = await api.client.post(path, json=body, headers=api.headers["officer"])
    assert refused.status_code == 403
    anonymous = await api.client.post(path, json=body, headers={"Authorization": ""})
    assert anonymous.status_code == 401
    taken = await api.client.post(path, json=body, headers=api.headers["gateway"])
    assert taken.status_code == 200
    assert taken.json()["code"] == 0  # nothing of ours, yet taken: the provider must not resend


@pytest.mark.parametrize(
    "body",
    [
        [{"biz_id": "b", "success": True, "out_id": "x\n\x1b[31mforged"}],
        [{"biz_id": "b", "success": True, "err_code": "<html>7731</html>"}],
        [{"biz_id": "", "success": True}],
        {"biz_id": "b", "success": True},
    ],
)
async def test_a_malformed_receipt_is_refused(api: Api, body: object) -> None:
    answer = await api.client.post(
        "/api/v1/sms/receipts", json=body, headers=api.headers["gateway"]
    )
    assert answer.status_code == 422
