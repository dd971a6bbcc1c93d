"""API models of notifications."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from riskwatch.common.events.base import Level
from riskwatch.notify.notifications.domain import AckVia, ChannelKind, Status, Topic


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    notification_id: str
    topic: Topic
    alarm_id: str | None  # null for a notice about no alarm (roster, work_order, device, ...)
    # The alarm's place (null on notifications older than the columns).
    sector_id: str | None = None
    town_id: str | None = None
    village_id: str | None = None
    level: Level | None
    duty_center_id: str
    person_id: str
    channel: ChannelKind
    recipient: str
    message: str
    status: Status
    attempts: int
    next_attempt_at: datetime
    provider_message_id: str | None
    last_error: str | None
    alarm_received_at: datetime | None
    created_at: datetime
    dispatched_at: datetime | None
    delivered_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledged_via: AckVia | None = None
    # The escalation step that sent it (0: the first) and the round of the policy's repeats.
    step: int = 0
    round: int = 0
    locale: str = "zh-CN"
    subject: str | None = None  # an e-mail's
    fallback_of: str | None = None  # sent instead of this notification, whose channel failed
    digest_id: str | None = None  # held back by a cap and counted in this digest


class NotificationPage(BaseModel):
    items: list[NotificationRead]
    next_cursor: str | None = None
