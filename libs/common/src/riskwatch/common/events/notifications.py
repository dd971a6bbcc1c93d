"""Topic `rw.notifications`, key `alarm_id`: a notification attempt went out, landed, failed,
or was acknowledged by the person on duty."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from riskwatch.common.events.base import EventPayload, Level, Timestamp, event_type

Channel = Literal["in_app", "sms", "voice", "push"]


class NotificationRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    notification_id: str
    alarm_id: str
    level: Level
    duty_center_id: str
    person_id: str
    channel: Channel
    attempt: int = 1


@event_type("rw.notification.dispatched.v1")
class NotificationDispatched(EventPayload):
    notification: NotificationRef
    dispatched_at: Timestamp


@event_type("rw.notification.delivered.v1")
class NotificationDelivered(EventPayload):
    notification: NotificationRef
    delivered_at: Timestamp
    provider_message_id: str | None = None


@event_type("rw.notification.failed.v1")
class NotificationFailed(EventPayload):
    notification: NotificationRef
    failed_at: Timestamp
    error: str
    will_retry: bool


@event_type("rw.notification.acknowledged.v1")
class NotificationAcknowledged(EventPayload):
    notification: NotificationRef
    acknowledged_at: Timestamp
    acknowledged_by: str
