"""Use cases of notifications: plan them for an alarm, claim and settle dispatch attempts, list,
acknowledge. Callers own the transaction; every event is staged in the outbox in it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.auth import Principal
from riskwatch.common.errors import Forbidden, InvalidState, NotFound
from riskwatch.common.events import EventPayload, new_event
from riskwatch.common.events.alarms import AlarmSnapshot
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.notifications import (
    NotificationAcknowledged,
    NotificationDelivered,
    NotificationDispatched,
    NotificationFailed,
)
from riskwatch.common.events.topics import NOTIFICATIONS
from riskwatch.common.pagination import keyset, page_of
from riskwatch.notify import metrics
from riskwatch.notify.duty.models import DutyCenter
from riskwatch.notify.escalation import domain as escalation
from riskwatch.notify.escalation.models import Escalation
from riskwatch.notify.escalation.store import stop_escalation
from riskwatch.notify.models import outbox
from riskwatch.notify.notifications import storm_service
from riskwatch.notify.notifications.channels import Outgoing, Receipt
from riskwatch.notify.notifications.domain import (
    ACKNOWLEDGEABLE,
    AckVia,
    AttemptOutcome,
    ChannelKind,
    Jitter,
    Status,
    Topic,
    after_failure,
    fallback_key,
    falls_back_to_voice,
    full_jitter,
    idempotency_key,
    short_alarm_id,
)
from riskwatch.notify.notifications.models import DeliveryAttempt, Notification
from riskwatch.notify.notifications.storm import StormCaps
from riskwatch.notify.templates.domain import TemplateKey, alarm_variables
from riskwatch.notify.templates.service import load_templates

SOURCE = "/riskwatch/notify"
log = structlog.get_logger(__name__)


async def insert_notifications(
    session: AsyncSession,
    rows: list[dict[str, object]],
    *,
    now: datetime,
    caps: StormCaps | None = None,
) -> list[str]:
    """Insert pending notifications; a row whose idempotency key exists is skipped. With
    `caps` (an alarm's escalation steps), SMS and calls beyond their recipient's storm caps are
    inserted suppressed and counted in the window's digest (storm_service.admit); duty notices
    and a fallback in place of an admitted SMS pass none. The ids of those inserted."""
    if not rows:
        return []
    if caps is not None:
        rows = await storm_service.admit(session, rows, now=now, caps=caps)
    result = await session.execute(
        insert(Notification)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[Notification.idempotency_key])
        .returning(Notification.notification_id)
    )
    return list(result.scalars())


# -- dispatch -----------------------------------------------------------------------------------


async def claim_due(
    session: AsyncSession, *, now: datetime, limit: int, lease_s: float
) -> list[Outgoing]:
    """Take up to `limit` due notifications for one attempt each: pending ones whose time has
    come, and sending ones whose dispatcher's lease has ended. Other dispatchers skip them."""
    rows = (
        await session.scalars(
            select(Notification)
            .where(
                Notification.status.in_([Status.PENDING.value, Status.SENDING.value]),
                Notification.next_attempt_at <= now,
            )
            .order_by(Notification.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for row in rows:
        row.status = Status.SENDING.value
        row.attempts += 1
        row.next_attempt_at = now + timedelta(seconds=lease_s)
        row.dispatched_at = now
    await session.flush()
    return [
        Outgoing(
            notification_id=r.notification_id,
            idempotency_key=r.idempotency_key,
            channel=ChannelKind(r.channel),
            recipient=r.recipient,
            message=r.message,
            attempt=r.attempts,
            subject=r.subject,
            template_id=r.template_id,
            params={str(k): str(v) for k, v in (r.params or {}).items()},
        )
        for r in rows
    ]


async def renew_leases(
    session: AsyncSession, *, held: Mapping[str, int], now: datetime, lease_s: float
) -> None:
    """Extend the lease of rows this dispatcher still holds (sending, the attempt it claimed)."""
    until = now + timedelta(seconds=lease_s)
    for notification_id, attempt in held.items():
        await session.execute(
            update(Notification)
            .where(
                Notification.notification_id == notification_id,
                Notification.status == Status.SENDING.value,
                Notification.attempts == attempt,
            )
            .values(next_attempt_at=until)
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt went: a receipt, or an error (our own words) and whether to retry. For
    the delivery log: the provider, what was asked of it (no secrets), how long it took; and
    whether its breaker was open (`short_circuited`: nothing was sent) or is open now that this
    attempt failed (`provider_down`)."""

    notification_id: str
    attempt: int
    receipt: Receipt | None = None
    error: str | None = None
    retryable: bool = True
    provider: str = "unknown"
    request: Mapping[str, object] | None = None
    latency_ms: int | None = None
    short_circuited: bool = False
    provider_down: bool = False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries with capped exponential backoff and full jitter; an alarm's SMS falls back to
    voice after `fallback_after_failures` failed attempts (or at once while its provider is
    down)."""

    max_attempts: int
    initial_s: float
    maximum_s: float
    fallback_after_failures: int = 2
    jitter: Jitter = full_jitter


async def record_outcomes(
    session: AsyncSession, *, outcomes: Sequence[Outcome], now: datetime, retry: RetryPolicy
) -> list[str]:
    """Settle a batch of attempts, log each in the delivery log and stage their events, in the
    caller's transaction. An attempt whose row was taken again meanwhile (its lease ended) or
    settled by a receipt is stale: it is logged and changes nothing else. Returns the ids of
    the voice notifications inserted as fallbacks of SMS given up."""
    if not outcomes:
        return []
    rows = {
        r.notification_id: r
        for r in await session.scalars(
            select(Notification)
            .where(Notification.notification_id.in_([o.notification_id for o in outcomes]))
            .with_for_update()
        )
    }
    events: list[tuple[str, Envelope[EventPayload], str | None]] = []
    fallbacks: list[str] = []
    for outcome in outcomes:
        row = rows.get(outcome.notification_id)
        if row is None:
            log.warning("dispatch_outcome_of_no_notification", **_ids(outcome))
            continue
        session.add(_attempt_row(row, outcome, now=now))
        if row.status != Status.SENDING.value or row.attempts != outcome.attempt:
            log.warning("stale_dispatch_outcome", **_ids(outcome))
            continue
        # Events on rw.notifications describe alarm notifications; duty notices are in the
        # table (and the person's list) only.
        about_alarm = row.topic == Topic.ALARM.value
        payloads: list[EventPayload] = []
        if about_alarm:
            payloads.append(
                NotificationDispatched(
                    notification=row.ref(), dispatched_at=row.dispatched_at or now
                )
            )
        if outcome.receipt is not None:
            receipt = outcome.receipt
            row.status = (Status.DELIVERED if receipt.delivered else Status.SENT).value
            row.provider_message_id = receipt.provider_message_id
            row.last_error = None
            if receipt.delivered:
                row.delivered_at = now
            if receipt.delivered and about_alarm:
                payloads.append(
                    NotificationDelivered(
                        notification=row.ref(),
                        delivered_at=now,
                        provider_message_id=receipt.provider_message_id,
                    )
                )
            metrics.NOTIFICATIONS.labels(row.channel, row.status).inc()
            if row.alarm_received_at is not None:
                metrics.LATENCY.labels(row.channel).observe(
                    (now - row.alarm_received_at).total_seconds()
                )
        else:
            error = outcome.error or "send failed"
            decision = after_failure(
                attempts=row.attempts,
                max_attempts=retry.max_attempts if outcome.retryable else row.attempts,
                now=now,
                initial_s=retry.initial_s,
                maximum_s=retry.maximum_s,
                jitter=retry.jitter,
            )
            fall_back = falls_back_to_voice(
                topic=row.topic,
                channel=row.channel,
                attempts=row.attempts,
                fallback_after=retry.fallback_after_failures,
                provider_down=outcome.short_circuited or outcome.provider_down,
                giving_up=not decision.will_retry,
            )
            will_retry = decision.will_retry and not fall_back
            row.status = (Status.PENDING if will_retry else Status.FAILED).value
            row.next_attempt_at = (decision.next_attempt_at if will_retry else None) or now
            row.last_error = (f"{error}; fell back to voice" if fall_back else error)[:500]
            if fall_back:
                fallbacks += await fall_back_to_voice(session, sms=row, now=now)
            if about_alarm:
                payloads.append(
                    NotificationFailed(
                        notification=row.ref(), failed_at=now, error=error, will_retry=will_retry
                    )
                )
            metrics.NOTIFICATIONS.labels(row.channel, "retry" if will_retry else "failed").inc()
            log.warning(
                "notification_failed",
                notification_id=row.notification_id,
                channel=row.channel,
                attempt=row.attempts,
                error=error,
                will_retry=will_retry,
                fell_back=fall_back,
            )
        # The alarm event's trace continues through the notifications it caused.
        events += [(NOTIFICATIONS, _event(p, row, row.traceparent), row.alarm_id) for p in payloads]
    await session.flush()
    await outbox.add_many(session, events)
    return fallbacks


def _ids(outcome: Outcome) -> dict[str, object]:
    return {"notification_id": outcome.notification_id, "attempt": outcome.attempt}


def _attempt_row(row: Notification, outcome: Outcome, *, now: datetime) -> DeliveryAttempt:
    if outcome.receipt is not None:
        kind = AttemptOutcome.DELIVERED if outcome.receipt.delivered else AttemptOutcome.ACCEPTED
    elif outcome.short_circuited:
        kind = AttemptOutcome.SHORT_CIRCUITED
    else:
        kind = AttemptOutcome.FAILED
    return DeliveryAttempt(
        notification_id=row.notification_id,
        attempt=outcome.attempt,
        channel=row.channel,
        provider=outcome.provider[:32],
        request=dict(outcome.request) if outcome.request is not None else None,
        provider_message_id=outcome.receipt.provider_message_id if outcome.receipt else None,
        outcome=kind.value,
        error=outcome.error[:500] if outcome.error and outcome.receipt is None else None,
        latency_ms=outcome.latency_ms,
        at=now,
    )


async def fall_back_to_voice(
    session: AsyncSession, *, sms: Notification, now: datetime
) -> list[str]:
    """A voice call in place of an alarm's SMS given up: the same person, alarm, level, step
    and round, due now, saying what the step's voice template says (rendered from the alarm
    its escalation keeps; the SMS's text, telling to reply by SMS, would be wrong read out).
    Its key is the SMS's plus ":fallback:voice", so it exists once however often this runs;
    none when the step calls the person anyway. The id inserted, none otherwise."""
    if sms.alarm_id is None or sms.level is None:
        return []
    own_call = idempotency_key(
        sms.alarm_id, sms.level, sms.step, sms.round, sms.person_id, ChannelKind.VOICE
    )
    if await session.scalar(
        select(Notification.notification_id).where(Notification.idempotency_key == own_call)
    ):
        return []
    text, params = sms.message, sms.params
    escalation_row = await session.get(Escalation, sms.alarm_id)
    if escalation_row is not None:
        alarm = AlarmSnapshot.model_validate(escalation_row.alarm)
        templates = await load_templates(session)
        rendered = templates.render(
            TemplateKey.ALARM,
            ChannelKind.VOICE,
            sms.locale,
            alarm_variables(
                alarm,
                place=escalation_row.place,
                step=sms.step,
                channel=ChannelKind.VOICE,
                locale=sms.locale,
            ),
        )
        text, params = rendered.text, dict(rendered.params) or None
    return await insert_notifications(
        session,
        [
            {
                "notification_id": str(uuid.uuid4()),
                "topic": sms.topic,
                "alarm_id": sms.alarm_id,
                "sector_id": sms.sector_id,
                "town_id": sms.town_id,
                "village_id": sms.village_id,
                "level": sms.level,
                "duty_center_id": sms.duty_center_id,
                "person_id": sms.person_id,
                "channel": ChannelKind.VOICE.value,
                "recipient": sms.recipient,
                "message": text,
                "status": Status.PENDING.value,
                "idempotency_key": fallback_key(sms.idempotency_key),
                "attempts": 0,
                "next_attempt_at": now,
                "alarm_received_at": sms.alarm_received_at,
                "traceparent": sms.traceparent,
                "created_at": now,
                "step": sms.step,
                "round": sms.round,
                "locale": sms.locale,
                "template_id": None,
                "params": params,
                "fallback_of": sms.notification_id,
            }
        ],
        now=now,
    )


def _event(
    payload: EventPayload, row: Notification, traceparent: str | None
) -> Envelope[EventPayload]:
    return new_event(payload, source=SOURCE, subject=row.notification_id, traceparent=traceparent)


# -- reads and acknowledgement ------------------------------------------------------------------


async def get_notification_or_raise(
    session: AsyncSession,
    *,
    notification_id: str,
    for_update: bool = False,
    scope: Scope = DISTRICT,
    me: str | None = None,
) -> Notification:
    row = await session.get(Notification, notification_id, with_for_update=for_update)
    # Outside the scope, as if it did not exist; unless it was sent to the caller.
    if row is None or not (scope.holds(row) or (me is not None and row.person_id == me)):
        raise NotFound(f"No notification {notification_id!r}.")
    return row


async def list_notifications(
    session: AsyncSession,
    *,
    alarm_id: str | None,
    topic: str | None = None,
    status: str | None,
    channel: str | None,
    person_id: str | None,
    duty_center_id: str | None,
    cursor: str | None,
    limit: int,
    scope: Scope = DISTRICT,
    me: str | None = None,
) -> tuple[list[Notification], str | None]:
    # Outside their scope, people still see what was sent to them (a roster, a duty notice).
    visible = (
        scope.on(Notification)
        if me is None
        else or_(scope.on(Notification), Notification.person_id == me)
    )
    stmt = select(Notification).where(visible)
    filters = [
        (Notification.alarm_id, alarm_id),
        (Notification.topic, topic),
        (Notification.status, status),
        (Notification.channel, channel),
        (Notification.person_id, person_id),
        (Notification.duty_center_id, duty_center_id),
    ]
    for column, value in filters:
        if value is not None:
            stmt = stmt.where(column == value)
    stmt = keyset(
        stmt,
        at=Notification.created_at,
        id_=Notification.notification_id,
        cursor=cursor,
        limit=limit,
    )
    rows = (await session.scalars(stmt)).all()
    return page_of(rows, limit=limit, at="created_at", id_="notification_id")


async def acknowledge_notification(
    session: AsyncSession,
    *,
    notification_id: str,
    by: str,
    via: AckVia,
    now: datetime,
    caller: Principal | None = None,
) -> Notification:
    """The person notified has it (签收), and the alarm's escalation stops. Over the API
    (`caller` given) only that person or the leader of the center it was sent for may say so;
    an SMS reply or a keypress (`caller` None) has proved who it is already. Acknowledging again
    changes nothing and emits nothing."""
    row = await get_notification_or_raise(
        session,
        notification_id=notification_id,
        for_update=True,
        scope=caller.scope if caller is not None else DISTRICT,
        me=caller.subject if caller is not None else None,
    )
    if caller is not None and caller.subject != row.person_id:
        center = await session.get(DutyCenter, row.duty_center_id)
        if center is None or center.leader_id != caller.subject:
            raise Forbidden(
                f"Notification {notification_id!r} was sent to {row.person_id}; only they or "
                f"the leader of duty center {row.duty_center_id!r} may acknowledge it."
            )
    if row.status == Status.ACKNOWLEDGED.value:
        return row
    if Status(row.status) not in ACKNOWLEDGEABLE:
        raise InvalidState(
            f"Notification {notification_id!r} is {row.status}; only a notification on its way "
            "or delivered can be acknowledged."
        )
    row.status = Status.ACKNOWLEDGED.value
    row.acknowledged_at = now
    row.acknowledged_by = by
    row.acknowledged_via = via.value
    await session.flush()
    if row.topic != Topic.ALARM.value or row.alarm_id is None:
        return row
    # The first acknowledgement of an alarm stops its escalation.
    await stop_escalation(
        session,
        alarm_id=row.alarm_id,
        transition=escalation.acknowledge,
        now=now,
        answered=(now, by, via.value),
    )
    event = NotificationAcknowledged(
        notification=row.ref(), acknowledged_at=now, acknowledged_by=by, via=via.value
    )
    # traceparent None: the event continues the trace of the request that acknowledged.
    await outbox.add(session, NOTIFICATIONS, _event(event, row, None), key=row.alarm_id)
    return row


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    """What an acknowledging SMS reply came to: the notification acknowledged, or why none."""

    acknowledged: Notification | None
    outcome: str


REPLY_WINDOW = timedelta(hours=24)


async def acknowledge_by_reply(
    session: AsyncSession, *, person_id: str, alarm_ref: str | None, at: datetime
) -> ReplyOutcome:
    """An SMS reply from `person_id`'s phone acknowledges the alarm it names (by the reference
    its message showed), or with the bare word the one alarm they have open; the SMS sent to
    them is the notification acknowledged (any of theirs for that alarm without one)."""
    stmt = (
        select(Notification)
        .where(
            Notification.person_id == person_id,
            Notification.topic == Topic.ALARM.value,
            Notification.created_at > at - REPLY_WINDOW,
            Notification.status.in_([s.value for s in ACKNOWLEDGEABLE | {Status.ACKNOWLEDGED}]),
        )
        .order_by(Notification.created_at.desc())
        .limit(200)
    )
    if alarm_ref is not None:
        stmt = stmt.where(Notification.alarm_id.startswith(alarm_ref, autoescape=True))
    rows = list(await session.scalars(stmt))
    alarms = {r.alarm_id for r in rows}
    if not rows:
        return ReplyOutcome(None, "no alarm sent to you in the last 24 h matches the reply")
    if len(alarms) > 1:
        refs = ", ".join(sorted(short_alarm_id(a) for a in alarms if a)[:5])
        return ReplyOutcome(None, f"several alarms match ({refs}): reply QS and the alarm number")
    mine = sorted(rows, key=lambda r: (r.channel != ChannelKind.SMS.value, r.created_at))
    if any(r.status == Status.ACKNOWLEDGED.value for r in rows):
        done = next(r for r in mine if r.status == Status.ACKNOWLEDGED.value)
        return ReplyOutcome(done, "already acknowledged")
    row = await acknowledge_notification(
        session, notification_id=mine[0].notification_id, by=person_id, via=AckVia.SMS, now=at
    )
    return ReplyOutcome(row, "acknowledged")
