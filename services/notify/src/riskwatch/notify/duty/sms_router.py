"""The SMS provider's inbound webhook: replies from people on duty. "报到" (or BD, CHECKIN, 1)
from the phone of someone on shift checks them in; "QS <alarm ref>" (or 签收, ACK; bare when
one alarm is open) acknowledges an alarm sent to them (签收)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import AuditDep, SessionDep, settings_dependency
from riskwatch.common.errors import InvalidState
from riskwatch.notify.duty import service
from riskwatch.notify.duty.router import check_in_read
from riskwatch.notify.duty.schemas import SmsInbound, SmsInboundRead
from riskwatch.notify.notifications.domain import AckReply, parse_ack_reply
from riskwatch.notify.notifications.service import acknowledge_by_reply
from riskwatch.notify.settings import NotifySettings

router = APIRouter(tags=["sms"])

Provider = Annotated[Principal, Depends(require(Permission.SMS_INBOUND))]
Settings = Annotated[NotifySettings, Depends(settings_dependency("notify", NotifySettings))]


@router.post("/api/v1/sms/inbound", response_model=SmsInboundRead)
async def sms_inbound(
    body: SmsInbound, session: SessionDep, caller: Provider, settings: Settings, audit: AuditDep
) -> SmsInboundRead:
    """One reply. Always 200 for a well-formed reply, so the provider does not resend it; the
    answer says whether it was understood and what came of it. A check-in counts at the time
    the reply was received (its `received_at`, else now). Replying twice checks in once."""
    reply = parse_ack_reply(body.text)
    if reply is not None:
        return await _acknowledge(body, reply, session, audit)
    if not service.is_check_in_reply(body.text):
        return SmsInboundRead(
            message_id=body.message_id,
            understood=False,
            outcome="neither a check-in nor an acknowledgement",
        )
    person = await service.person_by_phone(session, phone=body.sender)
    if person is None:
        return SmsInboundRead(
            message_id=body.message_id,
            understood=True,
            outcome="the number is not one person on any duty center",
        )
    at = min(body.received_at or datetime.now(UTC), datetime.now(UTC))
    try:
        async with session.begin_nested():
            shift = await service.check_in(
                session,
                person_id=person.person_id,
                at=at,
                via="sms",
                grace=settings.check_in_grace,
            )
    except InvalidState as exc:
        return SmsInboundRead(message_id=body.message_id, understood=True, outcome=exc.detail)
    read = check_in_read(shift)
    if audit is not None:
        audit.changed(None, read.model_dump(mode="json"))
    return SmsInboundRead(
        message_id=body.message_id, understood=True, outcome="checked in", check_in=read
    )


async def _acknowledge(
    body: SmsInbound, reply: AckReply, session: SessionDep, audit: AuditDep
) -> SmsInboundRead:
    person = await service.person_by_phone(session, phone=body.sender)
    if person is None:
        return SmsInboundRead(
            message_id=body.message_id,
            understood=True,
            outcome="the number is not one person on any duty center",
        )
    at = min(body.received_at or datetime.now(UTC), datetime.now(UTC))
    result = await acknowledge_by_reply(
        session, person_id=person.person_id, alarm_ref=reply.alarm_ref, at=at
    )
    row = result.acknowledged
    if row is not None and audit is not None and result.outcome == "acknowledged":
        audit.changed(None, {"status": row.status, "acknowledged_by": row.acknowledged_by})
    return SmsInboundRead(
        message_id=body.message_id,
        understood=True,
        outcome=result.outcome,
        acknowledged_notification_id=row.notification_id if row is not None else None,
        alarm_id=row.alarm_id if row is not None else None,
    )
