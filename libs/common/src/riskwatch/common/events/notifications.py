"""Topic `rw.notifications`, key `alarm_id`: a notification attempt went out, landed, failed,
or was acknowledged by the person on duty."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from riskwatch.common.events.base import EventPayload, Level, Timestamp, event_type

# How a notification went out: the duty app (its live stream), an SMS, a voice call that reads it
# out (电话提醒), a duty center's group robot (WeCom / DingTalk), an e-mail.
Channel = Literal["in_app", "sms", "voice", "webhook", "email"]
# How the person notified acknowledged (签收): over the API (the duty app), by SMS reply, by a
# keypress on the voice call.
AckVia = Literal["api", "sms", "voice"]


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
    via: AckVia = "api"
