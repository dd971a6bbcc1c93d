"""API models of notifications."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from riskwatch.common.events.base import Level
from riskwatch.notify.notifications.domain import ChannelKind, Status, Topic


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    notification_id: str
    topic: Topic
    alarm_id: str | None  # null for a duty notice (topic roster or check_in)
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


class NotificationPage(BaseModel):
    items: list[NotificationRead]
    next_cursor: str | None = None
