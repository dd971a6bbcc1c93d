"""API models of delivery: the SMS platform's receipts, the voice gateway's callbacks (both
posted to us by the providers) and a notification's delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from riskwatch.common.inputs import ONE_LINE_PATTERN, Key, UtcDatetime
from riskwatch.notify.notifications.delivery import ReceiptOutcome

# An out id is our idempotency key: one line, as long as the column.
OutId = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=ONE_LINE_PATTERN)]
Code = Annotated[str, StringConstraints(max_length=64, pattern=r"^[A-Za-z0-9_.:\-]*$")]


class SmsReportIn(BaseModel):
    """One receipt, as Aliyun's SmsReport names it; other fields a platform adds are ignored."""

    model_config = ConfigDict(extra="ignore")

    biz_id: Key
    out_id: OutId | None = None
    phone_number: Annotated[str, StringConstraints(max_length=32, pattern=ONE_LINE_PATTERN)] = ""
    success: bool
    err_code: Code | None = None
    report_time: UtcDatetime | None = None


class SmsReceiptsRead(BaseModel):
    """`code` 0 tells the platform the batch was taken (it resends otherwise); the counts say
    what came of it."""

    code: Literal[0] = 0
    msg: str = "received"
    applied: int
    duplicates: int
    unknown: int


class VoiceCallbackIn(BaseModel):
    """A call report of the voice gateway. Unknown fields are refused (422, naming them), like
    every body of the platform (OWASP API3): the gateway's contract is this model."""

    model_config = ConfigDict(extra="forbid")

    call_id: Key
    out_id: OutId | None = None
    status: Literal["answered", "no_answer", "busy", "failed"]
    dtmf: Annotated[str, StringConstraints(max_length=32, pattern=r"^[0-9*#]*$")] | None = None
    end_time: UtcDatetime | None = None


class VoiceCallbackRead(BaseModel):
    code: Literal[0] = 0
    outcome: ReceiptOutcome
    acknowledged: bool


class DeliveryAttemptRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempt_id: int
    notification_id: str
    attempt: int
    channel: str
    provider: str
    # What was asked of the provider (masked recipient, template id, parameters), or what its
    # receipt said (status, error code, keys pressed).
    request: dict[str, Any] | None
    provider_message_id: str | None
    outcome: Literal["accepted", "delivered", "failed", "short_circuited", "receipt"]
    error: str | None
    latency_ms: int | None
    at: datetime


class DeliveryAttemptList(BaseModel):
    items: list[DeliveryAttemptRead] = Field(default_factory=list)
