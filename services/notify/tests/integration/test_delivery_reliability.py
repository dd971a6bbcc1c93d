"""Delivery you can trust, against real PostgreSQL and the provider double served by uvicorn:
a provider that accepts and then answers 500 sends one SMS, not two; every attempt, receipt and
callback is in the delivery log (masked, in our words); a provider's breaker opens and
short-circuits; an alarm's SMS falls back to voice (after repeated failure, at once while the
breaker is open, on an undelivered receipt) exactly once; receipts and callbacks repeated change
nothing; keypress 1 acknowledges."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.events import EventPayload, decode
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.notifications import (
    NotificationAcknowledged,
    NotificationDelivered,
    NotificationDispatched,
    NotificationFailed,
)
from riskwatch.notify.models import outbox
from riskwatch.notify.notifications import delivery, service
from riskwatch.notify.notifications.breaker import BreakerPolicy, BreakerState, CircuitBreakers
from riskwatch.notify.notifications.channels import (
    Channel,
    InAppChannel,
    Receipt,
    SmsChannel,
    VoiceChannel,
)
from riskwatch.notify.notifications.delivery import ReceiptOutcome, SmsReport, VoiceCallback
from riskwatch.notify.notifications.dispatcher import Dispatcher
from riskwatch.notify.notifications.domain import ChannelKind, Status, Topic, mask_recipient
from riskwatch.notify.notifications.models import DeliveryAttempt, Notification
from riskwatch.notify.notifications.providers.voice import HttpVoiceProvider
from riskwatch.notify.notifications.service import Outcome, RetryPolicy, claim_due
from riskwatch.notify.notifications.sms import HttpSmsProvider
from riskwatch.notify.testing.providers import ProviderDouble, serving

from .. import factories as f

TOKEN = "provider-token"
T0 = f.NOW


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def served() -> Iterator[ProviderDouble]:
    with serving(token=TOKEN) as double:
        yield double


@pytest.fixture
def double(served: ProviderDouble) -> ProviderDouble:
    served.reset()
    return served


def top_of_range(low: float, high: float) -> float:
    """A jitter that always waits the cap: the backoff made visible."""
    return high


def masked(person_id: str) -> str:
    """How the log shows the person's number: "+86100****0157"."""
    shown = mask_recipient("sms", f.phone_of(person_id))
    assert shown[-4:] == f.phone_of(person_id)[-4:]
    assert shown.count("*") == 4
    return shown


def dispatcher(
    sessions: async_sessionmaker[AsyncSession],
    double: ProviderDouble,
    clock: Clock,
    *,
    breaker_failures: int = 5,
    fallback_after: int = 2,
    batch_size: int = 100,
) -> Dispatcher:
    channels: dict[ChannelKind, Channel] = {
        ChannelKind.IN_APP: InAppChannel(),
        ChannelKind.SMS: SmsChannel(
            HttpSmsProvider(double.sms_url, token=SecretStr(TOKEN), timeout_s=5)
        ),
        ChannelKind.VOICE: VoiceChannel(
            HttpVoiceProvider(double.voice_url, token=SecretStr(TOKEN), timeout_s=5)
        ),
    }
    return Dispatcher(
        sessions,
        channels,
        retry=RetryPolicy(
            max_attempts=5,
            initial_s=10,
            maximum_s=60,
            fallback_after_failures=fallback_after,
            jitter=top_of_range,
        ),
        clock=clock,
        batch_size=batch_size,
        breakers=CircuitBreakers(
            BreakerPolicy(failures=breaker_failures, cool_down=timedelta(seconds=30)), clock=clock
        ),
    )


async def add(
    sessions: async_sessionmaker[AsyncSession],
    *,
    channel: ChannelKind = ChannelKind.SMS,
    topic: Topic = Topic.ALARM,
    person_id: str = "l1",
    due: datetime = T0,
    template_id: str | None = None,
    params: dict[str, str] | None = None,
) -> str:
    """One pending notification of a red alarm (or a duty notice), due at `due`."""
    alarm_id = str(uuid.uuid4())
    row: dict[str, object] = {
        "notification_id": str(uuid.uuid4()),
        "topic": topic.value,
        "alarm_id": alarm_id if topic is Topic.ALARM else None,
        "sector_id": "construction",
        "town_id": "lujiazui",
        "level": "red" if topic is Topic.ALARM else None,
        "duty_center_id": "street-lujiazui",
        "person_id": person_id,
        "channel": channel.value,
        "recipient": f.phone_of(person_id) if channel is not ChannelKind.IN_APP else person_id,
        "message": "[RiskWatch] RED alarm gas-lel: ch4_lel 55 at Gas well 1. Alarm 1a2b3c4d.",
        "status": Status.PENDING.value,
        "idempotency_key": f"{alarm_id}:red:0.0:{person_id}:{channel.value}",
        "attempts": 0,
        "next_attempt_at": due,
        "alarm_received_at": T0 - timedelta(seconds=4) if topic is Topic.ALARM else None,
        "traceparent": f.TRACEPARENT,
        "created_at": due,
        "step": 0,
        "round": 0,
        "template_id": template_id,
        "params": params,
    }
    async with sessions() as session, session.begin():
        [inserted] = await service.insert_notifications(session, [row], now=due)
    return inserted


async def get(sessions: async_sessionmaker[AsyncSession], notification_id: str) -> Notification:
    async with sessions() as session:
        return await session.get_one(Notification, notification_id)


async def fallback_of(
    sessions: async_sessionmaker[AsyncSession], notification_id: str
) -> list[Notification]:
    async with sessions() as session:
        rows = await session.scalars(
            select(Notification).where(Notification.fallback_of == notification_id)
        )
        return list(rows)


async def log_of(
    sessions: async_sessionmaker[AsyncSession], notification_id: str
) -> list[DeliveryAttempt]:
    async with sessions() as session:
        return await delivery.list_attempts(session, notification_id=notification_id)


async def events_of(
    sessions: async_sessionmaker[AsyncSession], notification_id: str
) -> list[EventPayload]:
    async with sessions() as session:
        result = await session.execute(select(outbox.table).order_by(outbox.table.c.id))
        envelopes: list[Envelope[EventPayload]] = [
            decode([(k, v.encode()) for k, v in r.headers.items()], r.value) for r in result
        ]
    return [e.data for e in envelopes if e.subject == notification_id]


def kinds(events: Sequence[EventPayload]) -> list[str]:
    return [type(e).__name__ for e in events]


async def receipts(
    sessions: async_sessionmaker[AsyncSession], double: ProviderDouble, **receipt: Any
) -> dict[ReceiptOutcome, int]:
    """The double's receipts for every SMS it sent, applied as the callback route does."""
    reports = [
        SmsReport(
            biz_id=r["biz_id"],
            out_id=r["out_id"],
            phone_number=r["phone_number"],
            success=r["success"],
            err_code=r["err_code"],
            report_time=datetime.fromisoformat(r["report_time"]),
        )
        for r in (double.sms_receipt(s, **receipt) for s in double.sms)
    ]
    async with sessions() as session, session.begin():
        return await delivery.record_sms_receipts(
            session, reports=reports, now=T0 + timedelta(minutes=1)
        )


async def test_a_provider_that_accepts_then_answers_500_sends_one_sms_not_two(
    sessions: async_sessionmaker[AsyncSession], double: ProviderDouble
) -> None:
    sms_id = await add(sessions)
    double.accept_then_fail(1, kind="sms")
    clock = Clock(T0)
    d = dispatcher(sessions, double, clock)
    assert await d.run_once() == 1
    tried = await get(sessions, sms_id)
    assert (tried.status, tried.attempts, tried.last_error) == (
        "pending",
        1,
        "SMS provider answered HTTP 500",
    )
    assert tried.next_attempt_at == T0 + timedelta(seconds=10)  # the cap of the first wait
    clock.now = T0 + timedelta(seconds=10)
    assert await d.run_once() == 1  # the retry, with the same out id
    # The platform deduplicated by out id: one SMS went out, and its id is the row's.
    assert len(double.sms) == 1
    assert [r.status for r in double.requests if r.kind == "sms"] == [500, 200]
    sent = await get(sessions, sms_id)
    assert (sent.status, sent.attempts, sent.provider_message_id, sent.last_error) == (
        "sent",
        2,
        double.sms[0].biz_id,
        None,
    )
    assert await fallback_of(sessions, sms_id) == []  # one failure: no fallback
    # Its delivery receipt settles it delivered.
    assert (await receipts(sessions, double))[ReceiptOutcome.APPLIED] == 1
    assert (await get(sessions, sms_id)).status == "delivered"
    log = await log_of(sessions, sms_id)
    assert [(a.attempt, a.outcome, a.error) for a in log] == [
        (1, "failed", "SMS provider answered HTTP 500"),
        (2, "accepted", None),
        (2, "receipt", None),
    ]
    assert {a.provider for a in log} == {"sms-http"}
    assert log[1].provider_message_id == log[2].provider_message_id == double.sms[0].biz_id
    assert all(a.latency_ms is not None and a.latency_ms >= 0 for a in log[:2])
    assert log[1].request == {"to": masked("l1")}
    assert TOKEN not in str([a.request for a in log])
    assert kinds(await events_of(sessions, sms_id)) == [
        "NotificationDispatched",
        "NotificationFailed",
        "NotificationDispatched",
        "NotificationDelivered",
    ]


async def test_an_alarm_sms_falls_back_to_voice_after_repeated_failure_once(
    sessions: async_sessionmaker[AsyncSession], double: ProviderDouble
) -> None:
    sms_id = await add(sessions)
    double.fail_next(2, kind="sms")
    clock = Clock(T0)
    d = dispatcher(sessions, double, clock)
    await d.run_once()
    clock.now += timedelta(seconds=10)
    await d.run_once()
    given_up = await get(sessions, sms_id)
    assert (given_up.status, given_up.attempts, given_up.last_error) == (
        "failed",
        2,
        "SMS provider answered HTTP 500; fell back to voice",
    )
    [call] = await fallback_of(sessions, sms_id)
    assert call.idempotency_key == given_up.idempotency_key + ":fallback:voice"
    assert (call.channel, call.status, call.recipient, call.message) == (
        "voice",
        "pending",
        given_up.recipient,
        given_up.message,
    )
    assert await d.run_once() == 1  # the call goes out at once
    [placed] = double.calls
    assert (placed.out_id, placed.tts_text) == (call.idempotency_key, call.message)
    assert double.sms == []
    # Falling back again (a second dispatcher, a receipt) inserts nothing: one key, one call.
    async with sessions() as session, session.begin():
        row = await session.get_one(Notification, sms_id)
        assert await service.fall_back_to_voice(session, sms=row, now=clock.now) == []
    assert len(await fallback_of(sessions, sms_id)) == 1
    failed = [e for e in await events_of(sessions, sms_id) if isinstance(e, NotificationFailed)]
    assert [(e.notification.attempt, e.will_retry) for e in failed] == [(1, True), (2, False)]


async def test_the_breaker_opens_short_circuits_and_an_alarm_sms_falls_back_at_once(
    sessions: async_sessionmaker[AsyncSession], double: ProviderDouble
) -> None:
    first = await add(sessions, person_id="l1", due=T0)
    notice = await add(sessions, person_id="s1", topic=Topic.ROSTER, due=T0 + timedelta(seconds=1))
    # Due before the voice fallback the first SMS will get (due when it falls back, T0 + 2).
    second = await add(sessions, person_id="d1", due=T0 + timedelta(milliseconds=1500))
    double.down()
    clock = Clock(T0 + timedelta(seconds=2))
    d = dispatcher(sessions, double, clock, breaker_failures=1, fallback_after=5, batch_size=1)
    assert await d.run_once() == 1  # the first SMS meets the provider down: the breaker opens
    assert d.breakers.state("sms-http") is BreakerState.OPEN
    opened = await get(sessions, first)
    assert (opened.status, opened.last_error) == (
        "failed",
        "SMS provider answered HTTP 503; fell back to voice",
    )
    requests_before = len(double.requests)
    assert await d.run_once() == 1  # the roster notice: nothing sent, tried again later
    assert await d.run_once() == 1  # the second alarm SMS: nothing sent, voice at once
    assert len(double.requests) == requests_before  # short-circuited: the provider saw nothing
    held = await get(sessions, notice)
    assert (held.status, held.attempts) == ("pending", 1)
    assert held.last_error == "sms-http is failing (circuit open): nothing sent"
    assert await fallback_of(sessions, notice) == []  # a duty notice does not fall back
    skipped = await get(sessions, second)
    assert (skipped.status, skipped.attempts) == ("failed", 1)
    assert len(await fallback_of(sessions, second)) == 1
    [log] = await log_of(sessions, second)
    assert (log.outcome, log.provider, log.latency_ms) == ("short_circuited", "sms-http", None)
    # After the cool-down one probe goes out; the provider is back, so the breaker closes.
    double.up()
    clock.now = held.next_attempt_at + timedelta(seconds=30)
    voice_calls = 2
    while await d.run_once():
        pass
    assert d.breakers.state("sms-http") is BreakerState.CLOSED
    assert (await get(sessions, notice)).status == "sent"
    assert len(double.sms) == 1
    assert len(double.calls) == voice_calls


async def test_receipts_settle_once_and_an_undelivered_alarm_sms_falls_back(
    sessions: async_sessionmaker[AsyncSession], double: ProviderDouble
) -> None:
    ok, lost = await add(sessions, person_id="l1"), await add(sessions, person_id="l3")
    await dispatcher(sessions, double, Clock(T0)).run_once()
    by_key = {s.out_id: s for s in double.sms}
    ok_row, lost_row = await get(sessions, ok), await get(sessions, lost)
    delivered = [double.sms_receipt(by_key[ok_row.idempotency_key])]
    undelivered = [
        double.sms_receipt(by_key[lost_row.idempotency_key], success=False, err_code="MK:0001")
    ]

    async def apply(batch: list[dict[str, Any]]) -> dict[ReceiptOutcome, int]:
        reports = [
            SmsReport(
                biz_id=r["biz_id"],
                out_id=r["out_id"],
                phone_number=r["phone_number"],
                success=r["success"],
                err_code=r["err_code"],
            )
            for r in batch
        ]
        async with sessions() as session, session.begin():
            return await delivery.record_sms_receipts(
                session, reports=reports, now=T0 + timedelta(minutes=1)
            )

    for _ in range(3):  # the platform repeats its receipts
        await apply(delivered + undelivered)
    unknown = [{**delivered[0], "out_id": "not-ours", "biz_id": "biz-unknown"}]
    assert (await apply(unknown))[ReceiptOutcome.UNKNOWN] == 1
    settled = await get(sessions, ok)
    assert (settled.status, settled.delivered_at) == ("delivered", T0 + timedelta(minutes=1))
    assert kinds(await events_of(sessions, ok)) == [
        "NotificationDispatched",
        "NotificationDelivered",  # once, however often the receipt came
    ]
    failed = await get(sessions, lost)
    assert (failed.status, failed.last_error) == (
        "failed",
        "the SMS platform reports it undelivered (MK:0001); fell back to voice",
    )
    assert len(await fallback_of(sessions, lost)) == 1
    [event] = [e for e in await events_of(sessions, lost) if isinstance(e, NotificationFailed)]
    assert not event.will_retry
    log = await log_of(sessions, lost)
    assert [(a.outcome, (a.request or {}).get("status")) for a in log] == [
        ("accepted", None),
        ("receipt", "undelivered"),
    ]
    assert log[1].request == {"status": "undelivered", "to": masked("l3"), "err_code": "MK:0001"}


async def test_a_receipt_that_overtakes_its_dispatcher_settles_once(
    sessions: async_sessionmaker[AsyncSession], double: ProviderDouble
) -> None:
    """The platform's receipt arrives while the dispatcher that sent the SMS has not settled
    it yet (still sending): the receipt settles it, and the dispatcher's late outcome is
    stale: logged, changing nothing, no second event."""
    sms_id = await add(sessions)
    async with sessions() as session, session.begin():
        [claimed] = await claim_due(session, now=T0, limit=10, lease_s=60)
    sms = HttpSmsProvider(double.sms_url, token=SecretStr(TOKEN), timeout_s=5)
    try:
        biz_id = await sms.send(
            to=claimed.recipient, text=claimed.message, idempotency_key=claimed.idempotency_key
        )
    finally:
        await sms.aclose()
    assert (await receipts(sessions, double))[ReceiptOutcome.APPLIED] == 1
    assert (await get(sessions, sms_id)).status == "delivered"
    late = Outcome(
        sms_id,
        claimed.attempt,
        receipt=Receipt(delivered=False, provider_message_id=biz_id),
        provider="sms-http",
        latency_ms=12,
    )
    async with sessions() as session, session.begin():
        await service.record_outcomes(
            session, outcomes=[late], now=T0, retry=RetryPolicy(5, 1.0, 1.0)
        )
    row = await get(sessions, sms_id)
    assert (row.status, row.provider_message_id) == ("delivered", biz_id)
    assert kinds(await events_of(sessions, sms_id)) == [
        "NotificationDispatched",
        "NotificationDelivered",
    ]
    assert [a.outcome for a in await log_of(sessions, sms_id)] == ["receipt", "accepted"]


async def test_keypress_one_on_an_answered_call_acknowledges_once(
    sessions: async_sessionmaker[AsyncSession], double: ProviderDouble
) -> None:
    call_id = await add(sessions, channel=ChannelKind.VOICE, person_id="l1")
    await dispatcher(sessions, double, Clock(T0)).run_once()
    row = await get(sessions, call_id)
    assert row.status == "sent"
    [placed] = double.calls
    report = double.voice_report(placed, status="answered", dtmf="1")
    callback = VoiceCallback(
        call_id=report["call_id"],
        out_id=report["out_id"],
        status="answered",
        dtmf="1",
        end_time=T0 + timedelta(seconds=40),
    )
    results = []
    for _ in range(2):
        async with sessions() as session, session.begin():
            results.append(
                await delivery.record_voice_callback(
                    session, callback=callback, now=T0 + timedelta(minutes=1)
                )
            )
    assert [(r.outcome, r.acknowledged) for r in results] == [
        (ReceiptOutcome.APPLIED, True),
        (ReceiptOutcome.DUPLICATE, False),
    ]
    acked = await get(sessions, call_id)
    assert (acked.status, acked.acknowledged_by, acked.acknowledged_via) == (
        "acknowledged",
        "l1",
        "voice",
    )
    # The keypress counts when the call ended, not when we heard of it.
    assert acked.acknowledged_at == acked.delivered_at == T0 + timedelta(seconds=40)
    events = await events_of(sessions, call_id)
    assert kinds(events) == [
        "NotificationDispatched",
        "NotificationDelivered",
        "NotificationAcknowledged",
    ]
    ack = events[-1]
    assert isinstance(ack, NotificationAcknowledged)
    assert (ack.acknowledged_by, ack.via) == ("l1", "voice")
    log = await log_of(sessions, call_id)
    assert [(a.outcome, a.provider) for a in log] == [
        ("accepted", "voice-http"),
        ("receipt", "voice-http"),
    ]
    assert log[1].request is not None
    assert (log[1].request["status"], log[1].request["dtmf"]) == ("answered", "1")


async def test_an_unanswered_call_fails_and_falls_back_no_further(
    sessions: async_sessionmaker[AsyncSession], double: ProviderDouble
) -> None:
    call_id = await add(sessions, channel=ChannelKind.VOICE)
    await dispatcher(sessions, double, Clock(T0)).run_once()
    [placed] = double.calls
    async with sessions() as session, session.begin():
        result = await delivery.record_voice_callback(
            session,
            callback=VoiceCallback(placed.call_id, placed.out_id, "no_answer"),
            now=T0 + timedelta(minutes=1),
        )
    assert (result.outcome, result.acknowledged) == (ReceiptOutcome.APPLIED, False)
    row = await get(sessions, call_id)
    assert (row.status, row.last_error) == ("failed", "the call was not answered (no_answer)")
    assert await fallback_of(sessions, call_id) == []
    # A keypress reported for a call that was not answered acknowledges nothing.
    async with sessions() as session, session.begin():
        late = await delivery.record_voice_callback(
            session,
            callback=VoiceCallback(placed.call_id, placed.out_id, "busy", dtmf="1"),
            now=T0 + timedelta(minutes=2),
        )
    assert not late.acknowledged
    assert (await get(sessions, call_id)).status == "failed"
    assert not [
        e for e in await events_of(sessions, call_id) if isinstance(e, NotificationDelivered)
    ]
    dispatched = [
        e for e in await events_of(sessions, call_id) if isinstance(e, NotificationDispatched)
    ]
    assert len(dispatched) == 1


async def test_a_callback_for_a_notification_on_another_channel_is_unknown(
    sessions: async_sessionmaker[AsyncSession], double: ProviderDouble
) -> None:
    sms_id = await add(sessions)
    sms = await get(sessions, sms_id)
    async with sessions() as session, session.begin():
        result = await delivery.record_voice_callback(
            session,
            callback=VoiceCallback("call-x", sms.idempotency_key, "answered", dtmf="1"),
            now=T0,
        )
    assert result.outcome is ReceiptOutcome.UNKNOWN
    assert (await get(sessions, sms_id)).status == "pending"
