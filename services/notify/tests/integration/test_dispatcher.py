"""The dispatcher against real PostgreSQL: claim, send, settle and stage events; retries with
backoff; give up (an alarm's SMS then falls back to voice); a crashed dispatcher's rows come back
after the lease, sent only once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.events import EventPayload, Level, decode
from riskwatch.common.events.alarms import AlarmSnapshot
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.notifications import (
    NotificationDelivered,
    NotificationDispatched,
    NotificationFailed,
)
from riskwatch.common.testing import eventually
from riskwatch.notify.models import outbox
from riskwatch.notify.notifications.breaker import BreakerPolicy, CircuitBreakers
from riskwatch.notify.notifications.channels import (
    Channel,
    InAppChannel,
    Outgoing,
    Receipt,
    SmsChannel,
)
from riskwatch.notify.notifications.dispatcher import Dispatcher
from riskwatch.notify.notifications.domain import ChannelKind
from riskwatch.notify.notifications.models import Notification
from riskwatch.notify.notifications.service import (
    Outcome,
    RetryPolicy,
    claim_due,
    record_outcomes,
)
from riskwatch.notify.notifications.sms import FileSmsProvider, SendError

from .. import factories as f


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FailingChannel:
    provider = "failing"

    def __init__(self, *, retryable: bool = True) -> None:
        self.retryable = retryable
        self.calls = 0

    async def send(self, notification: Outgoing) -> Receipt:
        self.calls += 1
        raise SendError("gateway down", retryable=self.retryable)

    async def aclose(self) -> None:
        return None


class RecordingChannel:
    """A channel that delivers at once and remembers what it sent."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.sent: list[Outgoing] = []

    async def send(self, notification: Outgoing) -> Receipt:
        self.sent.append(notification)
        return Receipt(delivered=True, provider_message_id=f"rec-{len(self.sent)}")

    async def aclose(self) -> None:
        return None


async def plan(
    sessions: async_sessionmaker[AsyncSession], level: Level = Level.YELLOW
) -> AlarmSnapshot:
    alarm = f.alarm(level)
    async with sessions() as session, session.begin():
        await f.add_roster(session)
        await f.first_step(
            session,
            alarm=alarm,
            place="Lujiazui Street",
            traceparent=f.TRACEPARENT,
            now=f.NOW,
            grace=f.GRACE,
        )
    return alarm


async def rows(sessions: async_sessionmaker[AsyncSession]) -> list[Notification]:
    async with sessions() as session:
        result = await session.scalars(
            select(Notification).order_by(Notification.person_id, Notification.channel)
        )
        return list(result)


async def staged(
    sessions: async_sessionmaker[AsyncSession],
) -> list[tuple[str | None, Envelope[EventPayload]]]:
    async with sessions() as session:
        result = await session.execute(select(outbox.table).order_by(outbox.table.c.id))
        return [
            (r.key, decode([(k, v.encode()) for k, v in r.headers.items()], r.value))
            for r in result
        ]


def sms_lines(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def top_of_range(low: float, high: float) -> float:
    """A jitter that always waits the cap: the backoff made visible."""
    return high


def dispatcher(
    sessions: async_sessionmaker[AsyncSession],
    channels: dict[ChannelKind, Channel],
    clock: Clock,
    *,
    fallback_after: int = 3,
    **options: float,
) -> Dispatcher:
    """Three attempts, an SMS falling back to voice when they are spent, and a breaker that
    stays closed: these tests are about retries (test_delivery_reliability has the rest)."""
    return Dispatcher(
        sessions,
        channels,
        retry=RetryPolicy(
            max_attempts=3,
            initial_s=10,
            maximum_s=15,
            fallback_after_failures=fallback_after,
            jitter=top_of_range,
        ),
        clock=clock,
        breakers=CircuitBreakers(BreakerPolicy(1000, timedelta(seconds=30)), clock=clock),
        **options,  # type: ignore[arg-type]
    )


async def test_a_round_delivers_in_app_and_sms_and_stages_the_events(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    alarm = await plan(sessions)
    sms_file = tmp_path / "sms.jsonl"
    clock = Clock(f.NOW + timedelta(seconds=1))
    channels: dict[ChannelKind, Channel] = {
        ChannelKind.IN_APP: InAppChannel(),
        ChannelKind.SMS: SmsChannel(FileSmsProvider(sms_file)),
    }
    d = dispatcher(sessions, channels, clock)
    assert await d.run_once() == 6
    assert await d.run_once() == 0
    settled = await rows(sessions)
    assert {(r.status, r.attempts) for r in settled} == {("delivered", 1)}
    assert all(r.delivered_at == clock.now and r.dispatched_at == clock.now for r in settled)
    sms = [r for r in settled if r.channel == "sms"]
    lines = sms_lines(sms_file)
    assert sorted((line["to"], line["idempotency_key"], line["message_id"]) for line in lines) == (
        sorted((r.recipient, r.idempotency_key, r.provider_message_id) for r in sms)
    )
    assert all(line["text"] == sms[0].message for line in lines)
    events = await staged(sessions)
    assert {key for key, _ in events} == {alarm.alarm_id}
    kinds = sorted((type(e.data).__name__, e.subject) for _, e in events)
    assert kinds == sorted(
        (kind, r.notification_id)
        for r in settled
        for kind in ("NotificationDelivered", "NotificationDispatched")
    )
    # The alarm's trace goes on through the notifications it caused.
    trace_id = f.TRACEPARENT.split("-")[1]
    assert all(e.traceparent and e.traceparent.split("-")[1] == trace_id for _, e in events)
    delivered = [e.data for _, e in events if isinstance(e.data, NotificationDelivered)]
    assert {d.notification.channel for d in delivered} == {"in_app", "sms"}
    assert all(d.notification.attempt == 1 for d in delivered)


async def test_a_failing_channel_backs_off_then_gives_up_and_an_alarm_sms_falls_back_to_voice(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await plan(sessions)
    failing = FailingChannel()
    voice = RecordingChannel("voice-test")
    clock = Clock(f.NOW)
    channels: dict[ChannelKind, Channel] = {
        ChannelKind.IN_APP: InAppChannel(),
        ChannelKind.SMS: failing,
        ChannelKind.VOICE: voice,
    }
    d = dispatcher(sessions, channels, clock)
    assert await d.run_once() == 6
    sms = [r for r in await rows(sessions) if r.channel == "sms"]
    assert {(r.status, r.attempts, r.next_attempt_at, r.last_error) for r in sms} == {
        ("pending", 1, f.NOW + timedelta(seconds=10), "gateway down")
    }
    assert await d.run_once() == 0  # not due yet
    clock.now = f.NOW + timedelta(seconds=10)
    assert await d.run_once() == 3
    clock.now += timedelta(seconds=15)  # 20 s of backoff, bounded to 15
    assert await d.run_once() == 3
    # Out of attempts: each SMS is given up, and a voice call to the same person takes its
    # place, due at once, with the same text and no template (the gateway reads the text).
    settled = await rows(sessions)
    sms = [r for r in settled if r.channel == "sms"]
    calls = {r.fallback_of: r for r in settled if r.channel == "voice"}
    assert {(r.status, r.attempts, r.last_error) for r in sms} == {
        ("failed", 3, "gateway down; fell back to voice")
    }
    assert set(calls) == {r.notification_id for r in sms}
    for r in sms:
        call = calls[r.notification_id]
        assert call.idempotency_key == r.idempotency_key + ":fallback:voice"
        assert (call.person_id, call.recipient) == (r.person_id, r.recipient)
        # What the voice template says, read out (press 1), not the SMS's "reply QS".
        assert call.message.endswith("按1确认签收")
        assert (call.alarm_id, call.level, call.step, call.round) == (
            r.alarm_id,
            r.level,
            r.step,
            r.round,
        )
        assert (call.status, call.attempts, call.template_id) == ("pending", 0, None)
    assert await d.run_once() == 3  # the calls, at once
    assert sorted(n.recipient for n in voice.sent) == sorted(r.recipient for r in sms)
    clock.now += timedelta(hours=1)
    assert await d.run_once() == 0
    assert failing.calls == 9
    final = await rows(sessions)
    assert {(r.channel, r.status, r.attempts) for r in final} == {
        ("in_app", "delivered", 1),
        ("sms", "failed", 3),
        ("voice", "delivered", 1),
    }
    failed = [e.data for _, e in await staged(sessions) if isinstance(e.data, NotificationFailed)]
    by_attempt = sorted((x.notification.attempt, x.will_retry) for x in failed)
    assert by_attempt == [(1, True)] * 3 + [(2, True)] * 3 + [(3, False)] * 3
    assert all(x.error == "gateway down" for x in failed)


async def test_an_error_that_cannot_improve_fails_at_once_and_falls_back(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await plan(sessions)
    d = dispatcher(
        sessions,
        {ChannelKind.IN_APP: InAppChannel(), ChannelKind.SMS: FailingChannel(retryable=False)},
        Clock(f.NOW),
    )
    await d.run_once()
    after = await rows(sessions)
    assert {(r.status, r.attempts) for r in after if r.channel == "sms"} == {("failed", 1)}
    # The SMS will never arrive: the person is called instead.
    assert len([r for r in after if r.channel == "voice" and r.status == "pending"]) == 3


async def test_a_crashed_dispatch_comes_back_after_its_lease_and_is_not_sent_twice(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await plan(sessions)
    provider = FileSmsProvider(tmp_path / "sms.jsonl")
    # A dispatcher claims the batch, sends the SMS, and dies before recording anything.
    async with sessions() as session, session.begin():
        claimed = await claim_due(session, now=f.NOW, limit=100, lease_s=60)
    for n in claimed:
        if n.channel is ChannelKind.SMS:
            await provider.send(to=n.recipient, text=n.message, idempotency_key=n.idempotency_key)
    assert len(sms_lines(provider.path)) == 3
    clock = Clock(f.NOW + timedelta(seconds=30))
    restarted = FileSmsProvider(provider.path)  # a new process reads what the file holds
    channels: dict[ChannelKind, Channel] = {
        ChannelKind.IN_APP: InAppChannel(),
        ChannelKind.SMS: SmsChannel(restarted),
    }
    d = dispatcher(sessions, channels, clock, lease_s=60)
    assert await d.run_once() == 0  # the lease still holds
    clock.now = f.NOW + timedelta(seconds=61)
    assert await d.run_once() == 6
    assert {(r.status, r.attempts) for r in await rows(sessions)} == {("delivered", 2)}
    assert len(sms_lines(provider.path)) == 3


async def test_an_outcome_for_a_row_taken_again_changes_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await plan(sessions)
    async with sessions() as session, session.begin():
        claimed = await claim_due(session, now=f.NOW, limit=1, lease_s=60)
    async with sessions() as session, session.begin():
        stale = Outcome(claimed[0].notification_id, attempt=99, receipt=Receipt(delivered=True))
        await record_outcomes(session, outcomes=[stale], now=f.NOW, retry=RetryPolicy(3, 1.0, 1.0))
    row = next(r for r in await rows(sessions) if r.notification_id == stale.notification_id)
    assert (row.status, row.attempts) == ("sending", 1)
    assert await staged(sessions) == []


async def test_the_running_dispatcher_wakes_when_told(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    sms_file = tmp_path / "sms.jsonl"
    channels: dict[ChannelKind, Channel] = {
        ChannelKind.IN_APP: InAppChannel(),
        ChannelKind.SMS: SmsChannel(FileSmsProvider(sms_file)),
    }
    # A poll interval far beyond the test's patience: only the wake-up can make it work now.
    d = Dispatcher(sessions, channels, retry=RetryPolicy(3, 1.0, 1.0), poll_interval_s=3600)
    await d.start()
    try:
        assert d.running

        async def asleep() -> bool:
            return d.rounds >= 1

        # After its first (empty) round it sleeps, and the shared connection is ours.
        await eventually(asleep)
        await plan(sessions)
        d.wake()

        async def three_sms() -> bool:
            return len(sms_lines(sms_file)) == 3

        assert await eventually(three_sms)
    finally:
        await d.stop()
    assert not d.running
    assert {r.status for r in await rows(sessions)} == {"delivered"}
    dispatched = [
        e for _, e in await staged(sessions) if isinstance(e.data, NotificationDispatched)
    ]
    assert len(dispatched) == 6


class SlowChannel:
    """A gateway that answers after `seconds` (real time), counting what it sent."""

    provider = "slow"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sent: list[str] = []

    async def send(self, notification: Outgoing) -> Receipt:
        await asyncio.sleep(self.seconds)
        self.sent.append(notification.notification_id)
        return Receipt(provider_message_id=f"m-{notification.notification_id}", delivered=True)

    async def aclose(self) -> None:
        return None


async def test_a_live_dispatcher_keeps_its_lease_through_a_slow_send(
    committing_sessions: async_sessionmaker[AsyncSession],
) -> None:
    sessions = committing_sessions
    """A send slower than the lease is not taken over while its dispatcher is alive: the
    lease is renewed by a heartbeat (without it the second dispatcher would send it again)."""
    await plan(sessions)
    slow = SlowChannel(seconds=2.0)
    channels: dict[ChannelKind, Channel] = {ChannelKind.IN_APP: slow, ChannelKind.SMS: slow}
    wall = Clock(datetime.now(UTC))

    def now() -> datetime:
        return wall.now + (datetime.now(UTC) - wall.now)

    first = Dispatcher(
        sessions,
        channels,
        retry=RetryPolicy(max_attempts=3, initial_s=10, maximum_s=15),
        clock=now,
        lease_s=0.6,
    )
    second = Dispatcher(
        sessions,
        channels,
        retry=RetryPolicy(max_attempts=3, initial_s=10, maximum_s=15),
        clock=now,
        lease_s=0.6,
    )
    # Every row is due now (planned at f.NOW, in the past).
    sending = asyncio.create_task(first.run_once())

    async def claimed_by_first() -> bool:
        return all(r.status == "sending" for r in await rows(sessions))

    await eventually(claimed_by_first, interval=0.02)
    taken_by_second = 0
    while not sending.done():
        taken_by_second += await second.run_once()
        await asyncio.sleep(0.1)
    sent_by_first = await sending
    assert sent_by_first > 0
    assert taken_by_second == 0
    assert sorted(slow.sent) == sorted(set(slow.sent))  # nothing sent twice


async def test_a_dead_dispatchers_rows_are_taken_over_within_a_lease(
    committing_sessions: async_sessionmaker[AsyncSession],
) -> None:
    sessions = committing_sessions
    await plan(sessions)
    slow = SlowChannel(seconds=30.0)
    fast = SlowChannel(seconds=0.0)
    wall_now = lambda: datetime.now(UTC)  # noqa: E731 - real time: the lease is real here
    dead = Dispatcher(
        sessions,
        {ChannelKind.IN_APP: slow, ChannelKind.SMS: slow},
        retry=RetryPolicy(max_attempts=3, initial_s=10, maximum_s=15),
        clock=wall_now,
        lease_s=1.0,
    )
    crashed = asyncio.create_task(dead.run_once())
    await asyncio.sleep(0.5)  # it claimed everything and is sending
    crashed.cancel()  # the process dies: no heartbeat, no outcome
    with contextlib.suppress(asyncio.CancelledError):
        await crashed
    heir = Dispatcher(
        sessions,
        {ChannelKind.IN_APP: fast, ChannelKind.SMS: fast},
        retry=RetryPolicy(max_attempts=3, initial_s=10, maximum_s=15),
        clock=wall_now,
        lease_s=1.0,
    )

    async def taken_over() -> bool:
        await heir.run_once()
        return all(r.status == "delivered" for r in await rows(sessions))

    await eventually(taken_over, timeout=20)
    assert slow.sent == []
    assert len(fast.sent) == len(set(fast.sent)) == len(await rows(sessions))


async def test_dispatchers_claiming_at_once_neither_wait_for_nor_take_each_others_rows(
    committing_sessions: async_sessionmaker[AsyncSession],
) -> None:
    sessions = committing_sessions
    await plan(sessions)
    total = len(await rows(sessions))
    async with sessions() as a, a.begin():
        first = await claim_due(a, now=f.NOW, limit=2, lease_s=10)  # locks held: tx open
        async with sessions() as b, b.begin():
            # The other dispatcher skips the locked rows instead of waiting for them.
            second = await asyncio.wait_for(
                claim_due(b, now=f.NOW, limit=100, lease_s=10), timeout=10
            )
    mine = {n.notification_id for n in first}
    theirs = {n.notification_id for n in second}
    assert len(mine) == 2
    assert not mine & theirs
    assert len(mine | theirs) == total
