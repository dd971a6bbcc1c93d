"""What providers tell us after a send, and the delivery log: SMS delivery receipts and voice
gateway callbacks settle a notification (delivered, undelivered, answered, keypress 1
acknowledges), each logged once in notify.delivery_attempt; a receipt repeated changes nothing.
Callers own the transaction; events are staged in the outbox in it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

import structlog
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.errors import InvalidState
from riskwatch.common.events import EventPayload, new_event
from riskwatch.common.events.notifications import (
    NotificationDelivered,
    NotificationDispatched,
    NotificationFailed,
)
from riskwatch.common.events.topics import NOTIFICATIONS
from riskwatch.notify import metrics
from riskwatch.notify.models import outbox
from riskwatch.notify.notifications import service
from riskwatch.notify.notifications.domain import (
    AckVia,
    AttemptOutcome,
    ChannelKind,
    Status,
    Topic,
    falls_back_to_voice,
    mask_recipient,
)
from riskwatch.notify.notifications.models import DeliveryAttempt, Notification

log = structlog.get_logger(__name__)

# Who sends receipts and callbacks: the HTTP adapters (the file adapters deliver at once).
SMS_PROVIDER = "sms-http"
VOICE_PROVIDER = "voice-http"
# A receipt may still change these; a delivered, acknowledged, failed or suppressed row stays.
_OPEN = frozenset({Status.PENDING.value, Status.SENDING.value, Status.SENT.value})

VoiceStatus = Literal["answered", "no_answer", "busy", "failed"]


class ReceiptOutcome(StrEnum):
    APPLIED = "applied"  # logged, and the notification settled if it was still open
    DUPLICATE = "duplicate"  # the same receipt came before: nothing changed
    UNKNOWN = "unknown"  # no notification of ours on that channel has this out id / message id


@dataclass(frozen=True, slots=True)
class SmsReport:
    """One delivery receipt of the SMS platform (Aliyun's SmsReport): `out_id` is our
    idempotency key, `biz_id` the platform's message id."""

    biz_id: str
    out_id: str | None
    phone_number: str
    success: bool
    err_code: str | None = None
    report_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class VoiceCallback:
    """What the voice gateway reports when a call ends: the answer and the keys pressed."""

    call_id: str
    out_id: str | None
    status: VoiceStatus
    dtmf: str | None = None
    end_time: datetime | None = None

    @property
    def pressed_one(self) -> bool:
        """Keypress 1 acknowledges (a person in a hurry may press it twice, or after another)."""
        return self.status == "answered" and "1" in (self.dtmf or "")


@dataclass(frozen=True, slots=True)
class VoiceResult:
    outcome: ReceiptOutcome
    acknowledged: bool = False


async def record_sms_receipts(
    session: AsyncSession, *, reports: Sequence[SmsReport], now: datetime
) -> dict[ReceiptOutcome, int]:
    """Apply the platform's delivery receipts: delivered settles the SMS delivered (one
    NotificationDelivered), undelivered fails it with no retry (the platform tried) and an
    alarm's SMS falls back to voice. A receipt already logged (same message id and status)
    changes nothing. Counts per outcome."""
    counts = dict.fromkeys(ReceiptOutcome, 0)
    for report in reports:
        row = await _find(
            session, channel=ChannelKind.SMS, out_id=report.out_id, message_id=report.biz_id
        )
        if row is None:
            counts[ReceiptOutcome.UNKNOWN] += 1
            continue
        status = "delivered" if report.success else "undelivered"
        if await _logged(session, row=row, message_id=report.biz_id, status=status):
            counts[ReceiptOutcome.DUPLICATE] += 1
            continue
        at = _not_after(report.report_time, now)
        error = None if report.success else _undelivered(report.err_code)
        request: dict[str, object] = {"status": status, "to": _masked(row, report.phone_number)}
        if report.err_code:
            request["err_code"] = report.err_code
        if report.report_time is not None:
            request["report_time"] = report.report_time.isoformat()
        _log(
            session,
            row=row,
            provider=SMS_PROVIDER,
            message_id=report.biz_id,
            request=request,
            error=error,
            now=now,
        )
        if report.success:
            await _delivered(session, row=row, message_id=report.biz_id, at=at, now=now)
        else:
            await _failed(session, row=row, message_id=report.biz_id, error=error or "", now=now)
        counts[ReceiptOutcome.APPLIED] += 1
    await session.flush()
    return counts


async def record_voice_callback(
    session: AsyncSession, *, callback: VoiceCallback, now: datetime
) -> VoiceResult:
    """Apply the voice gateway's report of a call: answered settles it delivered, anything else
    fails it (no further fallback: voice is the last resort). Keypress 1 on an answered call
    acknowledges the notification for its person (AckVia.VOICE), which stops the alarm's
    escalation. A callback already logged (same call, status and keys) changes nothing."""
    row = await _find(
        session, channel=ChannelKind.VOICE, out_id=callback.out_id, message_id=callback.call_id
    )
    if row is None:
        return VoiceResult(ReceiptOutcome.UNKNOWN)
    if await _logged(
        session, row=row, message_id=callback.call_id, status=callback.status, dtmf=callback.dtmf
    ):
        return VoiceResult(ReceiptOutcome.DUPLICATE)
    at = _not_after(callback.end_time, now)
    answered = callback.status == "answered"
    error = None if answered else f"the call was not answered ({callback.status})"
    request: dict[str, object] = {"status": callback.status}
    if callback.dtmf:
        request["dtmf"] = callback.dtmf
    if callback.end_time is not None:
        request["end_time"] = callback.end_time.isoformat()
    _log(
        session,
        row=row,
        provider=VOICE_PROVIDER,
        message_id=callback.call_id,
        request=request,
        error=error,
        now=now,
    )
    if not answered:
        await _failed(session, row=row, message_id=callback.call_id, error=error or "", now=now)
        await session.flush()
        return VoiceResult(ReceiptOutcome.APPLIED)
    await _delivered(session, row=row, message_id=callback.call_id, at=at, now=now)
    await session.flush()
    if not callback.pressed_one:
        return VoiceResult(ReceiptOutcome.APPLIED)
    try:
        # The keypress proves who answered: the person the call was for (caller None).
        acknowledged = await service.acknowledge_notification(
            session,
            notification_id=row.notification_id,
            by=row.person_id,
            via=AckVia.VOICE,
            now=at,
            caller=None,
        )
    except InvalidState:
        log.warning("voice_ack_of_a_closed_notification", notification_id=row.notification_id)
        return VoiceResult(ReceiptOutcome.APPLIED)
    return VoiceResult(
        ReceiptOutcome.APPLIED, acknowledged=acknowledged.status == Status.ACKNOWLEDGED.value
    )


async def list_attempts(
    session: AsyncSession, *, notification_id: str, scope: Scope = DISTRICT, me: str | None = None
) -> list[DeliveryAttempt]:
    """A notification's delivery log, oldest first; as visible as the notification itself."""
    await service.get_notification_or_raise(
        session, notification_id=notification_id, scope=scope, me=me
    )
    rows = await session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.notification_id == notification_id)
        .order_by(DeliveryAttempt.attempt_id)
    )
    return list(rows)


# -- helpers -------------------------------------------------------------------------------------


async def _find(
    session: AsyncSession, *, channel: ChannelKind, out_id: str | None, message_id: str
) -> Notification | None:
    """The notification a provider's report is about, locked: by our idempotency key (the out
    id), else by the provider's message id. Locked, so two copies of one receipt arriving at
    once are applied once (the second sees the first's log row)."""
    found = None
    if out_id:
        found = await session.scalar(
            select(Notification).where(Notification.idempotency_key == out_id).with_for_update()
        )
    if found is None and message_id:
        found = await session.scalar(
            select(Notification)
            .where(
                Notification.provider_message_id == message_id,
                Notification.channel == channel.value,
            )
            .order_by(Notification.created_at)
            .limit(1)
            .with_for_update()
        )
    if found is None or found.channel != channel.value:
        return None
    return found


async def _logged(
    session: AsyncSession,
    *,
    row: Notification,
    message_id: str,
    status: str,
    dtmf: str | None = None,
) -> bool:
    conditions = [
        DeliveryAttempt.notification_id == row.notification_id,
        DeliveryAttempt.outcome == AttemptOutcome.RECEIPT.value,
        DeliveryAttempt.provider_message_id == message_id,
        DeliveryAttempt.request["status"].astext == status,
    ]
    if row.channel == ChannelKind.VOICE.value:
        conditions.append(
            DeliveryAttempt.request["dtmf"].astext == dtmf
            if dtmf
            else DeliveryAttempt.request["dtmf"].is_(None)
        )
    return bool(await session.scalar(select(exists().where(*conditions))))


def _log(
    session: AsyncSession,
    *,
    row: Notification,
    provider: str,
    message_id: str,
    request: dict[str, object],
    error: str | None,
    now: datetime,
) -> None:
    session.add(
        DeliveryAttempt(
            notification_id=row.notification_id,
            attempt=row.attempts,
            channel=row.channel,
            provider=provider,
            request=request,
            provider_message_id=message_id,
            outcome=AttemptOutcome.RECEIPT.value,
            error=error,
            latency_ms=None,
            at=now,
        )
    )


async def _delivered(
    session: AsyncSession, *, row: Notification, message_id: str, at: datetime, now: datetime
) -> None:
    if row.status not in _OPEN:
        return  # delivered (or acknowledged) before; a late receipt for a failed one is logged
    payloads = _dispatched_if_in_flight(row, now=now)
    row.status = Status.DELIVERED.value
    row.delivered_at = at
    row.provider_message_id = row.provider_message_id or message_id
    row.last_error = None
    metrics.NOTIFICATIONS.labels(row.channel, row.status).inc()
    if row.topic == Topic.ALARM.value:
        payloads.append(
            NotificationDelivered(
                notification=row.ref(), delivered_at=at, provider_message_id=message_id
            )
        )
    await _stage(session, row, payloads)


async def _failed(
    session: AsyncSession, *, row: Notification, message_id: str, error: str, now: datetime
) -> None:
    if row.status not in _OPEN:
        return
    payloads = _dispatched_if_in_flight(row, now=now)
    fall_back = falls_back_to_voice(
        topic=row.topic,
        channel=row.channel,
        attempts=row.attempts,
        fallback_after=1,
        giving_up=True,
    )
    row.status = Status.FAILED.value
    row.next_attempt_at = now
    row.provider_message_id = row.provider_message_id or message_id
    row.last_error = (f"{error}; fell back to voice" if fall_back else error)[:500]
    metrics.NOTIFICATIONS.labels(row.channel, "failed").inc()
    if fall_back:
        await service.fall_back_to_voice(session, sms=row, now=now)
    if row.topic == Topic.ALARM.value:
        payloads.append(
            NotificationFailed(notification=row.ref(), failed_at=now, error=error, will_retry=False)
        )
    await _stage(session, row, payloads)


def _dispatched_if_in_flight(row: Notification, *, now: datetime) -> list[EventPayload]:
    """A receipt that overtook its dispatcher's settling (the row still sending): the attempt
    went out, so it is dispatched; the dispatcher's late outcome is then stale and changes
    nothing, so this is the one NotificationDispatched of the attempt."""
    if row.status == Status.SENDING.value and row.topic == Topic.ALARM.value:
        return [
            NotificationDispatched(notification=row.ref(), dispatched_at=row.dispatched_at or now)
        ]
    return []


async def _stage(session: AsyncSession, row: Notification, payloads: list[EventPayload]) -> None:
    if not payloads:
        return
    await outbox.add_many(
        session,
        [
            (
                NOTIFICATIONS,
                new_event(
                    p,
                    source=service.SOURCE,
                    subject=row.notification_id,
                    traceparent=row.traceparent,
                ),
                row.alarm_id,
            )
            for p in payloads
        ],
    )


def _not_after(at: datetime | None, now: datetime) -> datetime:
    """A provider's time, never later than ours (a clock ahead must not date things later)."""
    return min(at, now) if at is not None else now


def _undelivered(err_code: str | None) -> str:
    return "the SMS platform reports it undelivered" + (f" ({err_code})" if err_code else "")


def _masked(row: Notification, phone: str) -> str:
    return mask_recipient(row.channel, phone or row.recipient)
