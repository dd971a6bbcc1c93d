"""Table of notifications: one row per alarm, level, person and channel (the idempotency key),
carrying its delivery state through attempts; also the duty notices (a published roster's
shifts, a missed check-in) that go out on the same channels."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Identity, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.common.events.base import Level
from riskwatch.common.events.notifications import Channel as EventChannel
from riskwatch.common.events.notifications import NotificationRef
from riskwatch.notify.models import Base
from riskwatch.notify.notifications.domain import ChannelKind

_EVENT_CHANNEL: dict[ChannelKind, EventChannel] = {
    ChannelKind.IN_APP: "in_app",
    ChannelKind.SMS: "sms",
    ChannelKind.VOICE: "voice",
    ChannelKind.WEBHOOK: "webhook",
    ChannelKind.EMAIL: "email",
}
_CHANNELS_SQL = ", ".join(f"'{c.value}'" for c in ChannelKind)


class Notification(Base):
    __tablename__ = "notification"

    notification_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # What it is about (domain.Topic): an alarm, or a duty notice without one.
    topic: Mapped[str] = mapped_column(String(16), server_default=text("'alarm'"))
    alarm_id: Mapped[str | None] = mapped_column(String(64))
    # The alarm's place, for org scopes (NULL on rows written before they were kept).
    sector_id: Mapped[str | None] = mapped_column(String(48))
    town_id: Mapped[str | None] = mapped_column(String(48))
    village_id: Mapped[str | None] = mapped_column(String(64))
    level: Mapped[str | None] = mapped_column(String(8))
    duty_center_id: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    # A phone, an address (254), a person id, or a center's robot URL (duty_center.robot_url).
    recipient: Mapped[str] = mapped_column(String(500))
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Pending: when the next attempt is due. Sending: when the claiming dispatcher's lease
    # ends and another may take the row (its process is presumed dead).
    next_attempt_at: Mapped[datetime]
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(String(500))
    # When ingest accepted the reading behind the alarm: latency is measured from here.
    alarm_received_at: Mapped[datetime | None]
    traceparent: Mapped[str | None] = mapped_column(String(64))  # of the alarm event
    created_at: Mapped[datetime]
    dispatched_at: Mapped[datetime | None]  # of the latest attempt
    delivered_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(255))
    acknowledged_via: Mapped[str | None] = mapped_column(String(16))  # domain.AckVia

    # Which escalation step sent it (0 the first), in which round of the policy's repeats.
    step: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    round: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Rendered from a message template: the locale, an e-mail's subject, and for a provider
    # that sends by template (Chinese SMS platforms, voice gateways) its template id and the
    # parameters; `message` is the full text (the file adapters', the app's, the robots').
    locale: Mapped[str] = mapped_column(String(8), server_default=text("'zh-CN'"))
    subject: Mapped[str | None] = mapped_column(String(200))
    template_id: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Sent instead of another notification whose channel kept failing (SMS down -> voice).
    fallback_of: Mapped[str | None] = mapped_column(String(36))
    # A suppressed notification: the digest that counts it.
    digest_id: Mapped[str | None] = mapped_column(String(36))
    # The live stream's cursor: the inserting transaction's id, then the row's sequence. A
    # stream only hands out rows of transactions older than every one still running
    # (pg_snapshot_xmin), so a row committed late can never fall behind a cursor.
    txid: Mapped[int] = mapped_column(
        BigInteger, server_default=text("(pg_current_xact_id()::text)::bigint")
    )
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True))

    __table_args__ = (
        CheckConstraint(f"channel IN ({_CHANNELS_SQL})", name="channel"),
        CheckConstraint(
            "topic IN ('alarm', 'roster', 'check_in', 'digest', 'work_order', 'device')",
            name="topic",
        ),
        CheckConstraint(
            "topic <> 'alarm' OR (alarm_id IS NOT NULL AND level IS NOT NULL"
            " AND alarm_received_at IS NOT NULL)",
            name="alarm_fields",
        ),
        CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'delivered', 'failed', 'acknowledged',"
            " 'suppressed')",
            name="status",
        ),
        # What the dispatcher claims: due rows that are waiting or whose lease has ended.
        Index(
            "ix_notification_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('pending', 'sending')"),
        ),
        Index("ix_notification_created_at", "created_at", "notification_id"),
        Index("ix_notification_alarm_id", "alarm_id"),
        Index("ix_notification_person_id", "person_id"),
        Index("ix_notification_town_id", "town_id"),
        Index("ix_notification_provider_message_id", "provider_message_id"),
        # Storm control counts what went to one recipient on one channel lately.
        Index("ix_notification_recipient", "recipient", "channel", "created_at"),
        # A person's live stream.
        Index(
            "ix_notification_stream",
            "person_id",
            "txid",
            "seq",
            postgresql_where=text("channel = 'in_app'"),
        ),
    )

    def ref(self) -> NotificationRef:
        """The row as alarm-notification events carry it; only for topic 'alarm'."""
        if self.alarm_id is None or self.level is None:
            raise ValueError(f"notification {self.notification_id} is not about an alarm")
        return NotificationRef(
            notification_id=self.notification_id,
            alarm_id=self.alarm_id,
            level=Level(self.level),
            duty_center_id=self.duty_center_id,
            person_id=self.person_id,
            channel=_EVENT_CHANNEL[ChannelKind(self.channel)],
            attempt=max(1, self.attempts),
        )


class DeliveryAttempt(Base):
    """The delivery log: one row per attempt to send a notification, and per receipt or callback
    a provider sent about it. Written by the dispatcher and the providers' webhooks, never
    changed."""

    __tablename__ = "delivery_attempt"

    attempt_id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    notification_id: Mapped[str] = mapped_column(String(36))
    attempt: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(32))  # file, sms-http, voice-http, wecom, ...
    # What was asked of the provider, without secrets: e.g. template id, parameters, number.
    request: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    # accepted | delivered | failed | short_circuited (breaker open, nothing sent) | receipt
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(String(500))
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime]

    __table_args__ = (
        Index("ix_delivery_attempt_notification_id", "notification_id", "attempt_id"),
        Index("ix_delivery_attempt_at", "at"),
    )
