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
from riskwatch.common.errors import InvalidState, NotFound
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
from riskwatch.notify.duty import service as duty_service
from riskwatch.notify.duty.domain import AlarmPlace, AlertKind, Attendance
from riskwatch.notify.models import outbox
from riskwatch.notify.notifications.channels import Outgoing, Receipt
from riskwatch.notify.notifications.domain import (
    ACKNOWLEDGEABLE,
    ChannelKind,
    Status,
    Topic,
    after_failure,
    notifications_for,
)
from riskwatch.notify.notifications.models import Notification

SOURCE = "/riskwatch/notify"
log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Plan:
    """What planning did for one alarm level: the centers it went to (routing order, fallbacks
    included), those that had nobody on duty or nobody checked in, and the notifications
    created (none for what already existed)."""

    duty_center_ids: list[str]
    uncovered: dict[str, str]
    created: list[str]


async def plan_notifications(
    session: AsyncSession,
    *,
    alarm: AlarmSnapshot,
    place: str | None,
    traceparent: str | None,
    now: datetime,
    grace: timedelta,
) -> Plan:
    """Pending notifications for everyone on duty now at the centers the alarm goes to, at its
    current level: by the current routing, then up to the fallback of every center with nobody
    on duty or nobody checked in after the grace period. Never nobody: a center left empty
    raises a duty alert, and an alarm that reaches no person at all raises one too."""
    device = alarm.device
    decision = await duty_service.route_alarm(
        session,
        place=AlarmPlace(device.sector_id, device.scenario_id, device.town_id),
        level=alarm.level,
        at=now,
        grace=grace,
    )
    for center_id, why in decision.uncovered.items():
        if decision.staffing[center_id].attendance is not Attendance.UNSTAFFED:
            continue  # nobody checked in: the missed check-in is its alert (the watch's)
        await duty_service.raise_alert(
            session,
            kind=AlertKind.NOBODY_ON_DUTY,
            duty_center_id=center_id,
            dedupe_key=f"{AlertKind.NOBODY_ON_DUTY.value}:{center_id}:open",
            alarm_id=alarm.alarm_id,
            detail=f"{why}; alarm {alarm.alarm_id} ({alarm.level.value}) went to its fallback",
            now=now,
        )
    center_ids = [r.center.duty_center_id for r in decision.routed]
    on_duty = {c: decision.people_at(c) for c in center_ids}
    planned = notifications_for(alarm, on_duty, place=place)
    if not planned:
        await duty_service.raise_alert(
            session,
            kind=AlertKind.UNREACHED_ALARM,
            duty_center_id=center_ids[0] if center_ids else None,
            dedupe_key=f"{AlertKind.UNREACHED_ALARM.value}:{alarm.alarm_id}:{alarm.level.value}",
            alarm_id=alarm.alarm_id,
            detail=(
                f"alarm {alarm.alarm_id} ({alarm.level.value}, sector {device.sector_id}, "
                f"town {device.town_id}) reached nobody: "
                + (
                    f"nobody on duty at {', '.join(center_ids)}"
                    if center_ids
                    else "no duty center is routed for it"
                )
            ),
            now=now,
        )
    created: list[str] = []
    if planned:
        rows: list[dict[str, object]] = [
            {
                "notification_id": str(uuid.uuid4()),
                "topic": Topic.ALARM.value,
                "alarm_id": alarm.alarm_id,
                "sector_id": device.sector_id,
                "town_id": device.town_id,
                "village_id": device.village_id,
                "level": alarm.level.value,
                "duty_center_id": p.duty_center_id,
                "person_id": p.person_id,
                "channel": p.channel.value,
                "recipient": p.recipient,
                "message": p.message,
                "status": Status.PENDING.value,
                "idempotency_key": p.idempotency_key,
                "attempts": 0,
                "next_attempt_at": now,
                "alarm_received_at": alarm.received_at,
                "traceparent": traceparent,
                "created_at": now,
            }
            for p in planned
        ]
        created = await insert_notifications(session, rows)
    log.info(
        "notifications_planned",
        alarm_id=alarm.alarm_id,
        alarm_level=alarm.level.value,
        duty_centers=center_ids,
        uncovered=sorted(decision.uncovered),
        created=len(created),
        planned=len(planned),
    )
    return Plan(center_ids, dict(decision.uncovered), created)


async def insert_notifications(session: AsyncSession, rows: list[dict[str, object]]) -> list[str]:
    """Insert pending notifications; a row whose idempotency key exists is skipped. The ids of
    those inserted."""
    if not rows:
        return []
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
    """How one attempt went: a receipt, or an error (our own words) and whether to retry."""

    notification_id: str
    attempt: int
    receipt: Receipt | None = None
    error: str | None = None
    retryable: bool = True


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    initial_s: float
    maximum_s: float


async def record_outcomes(
    session: AsyncSession, *, outcomes: Sequence[Outcome], now: datetime, retry: RetryPolicy
) -> None:
    """Settle a batch of attempts and stage their events. An attempt whose row was taken again
    meanwhile (its lease ended) is stale and changes nothing."""
    if not outcomes:
        return
    rows = {
        r.notification_id: r
        for r in await session.scalars(
            select(Notification)
            .where(Notification.notification_id.in_([o.notification_id for o in outcomes]))
            .with_for_update()
        )
    }
    events: list[tuple[str, Envelope[EventPayload], str | None]] = []
    for outcome in outcomes:
        row = rows.get(outcome.notification_id)
        if row is None or row.status != Status.SENDING.value or row.attempts != outcome.attempt:
            log.warning(
                "stale_dispatch_outcome",
                notification_id=outcome.notification_id,
                attempt=outcome.attempt,
            )
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
            )
            row.status = decision.status.value
            row.next_attempt_at = decision.next_attempt_at or now
            row.last_error = error[:500]
            if about_alarm:
                payloads.append(
                    NotificationFailed(
                        notification=row.ref(),
                        failed_at=now,
                        error=error,
                        will_retry=decision.will_retry,
                    )
                )
            metrics.NOTIFICATIONS.labels(
                row.channel, "retry" if decision.will_retry else "failed"
            ).inc()
            log.warning(
                "notification_failed",
                notification_id=row.notification_id,
                channel=row.channel,
                attempt=row.attempts,
                error=error,
                will_retry=decision.will_retry,
            )
        # The alarm event's trace continues through the notifications it caused.
        events += [(NOTIFICATIONS, _event(p, row, row.traceparent), row.alarm_id) for p in payloads]
    await session.flush()
    await outbox.add_many(session, events)


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
    now: datetime,
    scope: Scope = DISTRICT,
    me: str | None = None,
) -> Notification:
    """The person on duty has it. Acknowledging again changes nothing and emits nothing."""
    row = await get_notification_or_raise(
        session, notification_id=notification_id, for_update=True, scope=scope, me=me
    )
    if row.status == Status.ACKNOWLEDGED.value:
        return row
    if Status(row.status) not in ACKNOWLEDGEABLE:
        raise InvalidState(
            f"Notification {notification_id!r} is {row.status}; only a sent or delivered "
            "notification can be acknowledged."
        )
    row.status = Status.ACKNOWLEDGED.value
    row.acknowledged_at = now
    row.acknowledged_by = by
    await session.flush()
    if row.topic != Topic.ALARM.value:
        return row
    event = NotificationAcknowledged(
        notification=row.ref(), acknowledged_at=now, acknowledged_by=by
    )
    # traceparent None: the event continues the trace of the request that acknowledged.
    await outbox.add(session, NOTIFICATIONS, _event(event, row, None), key=row.alarm_id)
    return row
