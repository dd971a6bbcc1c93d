"""The providers' callbacks: SMS delivery receipts and voice gateway call reports. Callers are
machine accounts holding `provider:callback` (the gateway role). A well-formed report is
always answered 200 with code 0, also when it is a repeat or names nothing of ours, so the
provider does not resend it; the answer counts what came of it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import SessionDep
from riskwatch.notify.notifications import delivery
from riskwatch.notify.notifications.delivery import ReceiptOutcome, SmsReport, VoiceCallback
from riskwatch.notify.notifications.delivery_schemas import (
    SmsReceiptsRead,
    SmsReportIn,
    VoiceCallbackIn,
    VoiceCallbackRead,
)

router = APIRouter(tags=["providers"])

Provider = Annotated[Principal, Depends(require(Permission.PROVIDER_CALLBACK))]


@router.post("/api/v1/sms/receipts", response_model=SmsReceiptsRead)
async def sms_receipts(
    body: list[SmsReportIn], session: SessionDep, caller: Provider
) -> SmsReceiptsRead:
    """A batch of delivery receipts (`out_id` is the notification's idempotency key, `biz_id`
    the platform's message id). Delivered settles the SMS delivered; undelivered fails it and
    an alarm's SMS falls back to a voice call. A receipt repeated changes nothing."""
    counts = await delivery.record_sms_receipts(
        session,
        reports=[
            SmsReport(
                biz_id=r.biz_id,
                out_id=r.out_id,
                phone_number=r.phone_number,
                success=r.success,
                err_code=r.err_code or None,
                report_time=r.report_time,
            )
            for r in body
        ],
        now=datetime.now(UTC),
    )
    return SmsReceiptsRead(
        applied=counts[ReceiptOutcome.APPLIED],
        duplicates=counts[ReceiptOutcome.DUPLICATE],
        unknown=counts[ReceiptOutcome.UNKNOWN],
    )


@router.post("/api/v1/voice/callbacks", response_model=VoiceCallbackRead)
async def voice_callback(
    body: VoiceCallbackIn, session: SessionDep, caller: Provider
) -> VoiceCallbackRead:
    """How a call ended: answered settles it delivered, no_answer / busy / failed fails it.
    Keypress 1 (`dtmf`) on an answered call acknowledges the notification for the person
    called, and stops the alarm's escalation."""
    result = await delivery.record_voice_callback(
        session,
        callback=VoiceCallback(
            call_id=body.call_id,
            out_id=body.out_id,
            status=body.status,
            dtmf=body.dtmf or None,
            end_time=body.end_time,
        ),
        now=datetime.now(UTC),
    )
    return VoiceCallbackRead(outcome=result.outcome, acknowledged=result.acknowledged)
