"""Settings of the notify service."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PositiveFloat, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from riskwatch.common.settings import ServiceSettings

SmsProviderKind = Literal["file", "http"]


class NotifySettings(ServiceSettings):
    service_name: str = "notify"
    port: int = 8004

    # Where SMS go. "file" appends one JSON line per message (the default, and the adapter a
    # deployment replaces); "http" posts to a gateway with an Idempotency-Key.
    sms_provider: SmsProviderKind = "file"
    sms_file: Path | None = None  # None: <data_dir>/sms-outbox.jsonl
    sms_http_url: str | None = None
    sms_http_token: SecretStr | None = None
    sms_http_timeout_s: float = 10.0
    # The template platform's signature (签名), and the approved template "${content}" that
    # carries a whole rendered text when a notification has no template of its own.
    sms_sign_name: str = "RiskWatch"
    sms_generic_template: str = "SMS_RISKWATCH_GENERIC"

    # Voice reminders (电话提醒): "file" appends one JSON line per call (the default); "http"
    # calls through a voice gateway whose callback reports the answer and the keypress.
    voice_provider: Literal["file", "http"] = "file"
    voice_file: Path | None = None  # None: <data_dir>/voice-outbox.jsonl
    voice_http_url: str | None = None
    voice_http_token: SecretStr | None = None
    voice_http_timeout_s: float = 10.0
    voice_play_times: int = 2

    # Group robots (WeCom / DingTalk): the URL is a duty center's, so only these hosts are
    # posted to (comma-separated).
    robot_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["qyapi.weixin.qq.com", "oapi.dingtalk.com"]
    )
    robot_timeout_s: float = 10.0

    # E-mail over SMTP: the channel exists when a host is set.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "riskwatch@localhost"
    smtp_starttls: bool = True
    smtp_timeout_s: float = 15.0

    # A provider failing this many times in a row is not sent to for the cool-down (its
    # breaker is open); an alarm's SMS falls back to voice after this many failed attempts, or
    # at once while the SMS provider's breaker is open.
    breaker_failures: int = Field(default=5, ge=1)
    breaker_cool_down_s: float = Field(default=30.0, ge=0)
    fallback_after_failures: int = Field(default=2, ge=1)

    # Demo duty centers, members and rosters (the bundled import file), so someone is always on
    # duty in a demo.
    seed_demo_roster: bool = False

    # Check-in (报到): if nobody at a center has checked in this long after a shift starts, its
    # leader is told and its alarms also go to the next level up.
    check_in_grace_min: float = 15.0
    check_in_watch_interval_s: float = 15.0

    # Escalation: how often the escalator looks for steps whose wait is over (a step fires up to
    # this late), and how many escalations one transaction moves.
    escalation_poll_s: float = 1.0
    escalation_batch_size: int = 50

    # Storm control, per recipient and channel: at most so many SMS / calls per window and per
    # local day (provider limits); what a cap holds back is counted in one digest per window.
    storm_window_min: float = Field(default=10.0, gt=0, le=1440)
    storm_sms_per_window: int = Field(default=10, ge=0)
    storm_sms_per_day: int = Field(default=50, ge=0)
    storm_voice_per_window: int = Field(default=3, ge=0)
    storm_voice_per_day: int = Field(default=20, ge=0)

    dispatcher_batch_size: int = 100
    dispatcher_poll_interval_s: float = 1.0
    dispatcher_max_attempts: int = 5
    dispatcher_retry_initial_s: float = 2.0
    dispatcher_retry_max_s: float = 60.0
    # A claimed notification is sent within the send timeout. Its dispatcher renews the lease
    # every third of it while sending; a dispatcher that died loses its rows within one lease
    # and another takes them over.
    dispatcher_send_timeout_s: float = 15.0
    dispatcher_lease_s: float = 10.0

    # The in-app live stream (GET /api/v1/notifications/stream): how often each open stream
    # reads its person's new rows, and how often it re-admits its caller (an expired token, a
    # disabled account or a lost permission ends it; the client reconnects with Last-Event-ID).
    stream_poll_s: PositiveFloat = 1.0
    stream_recheck_s: PositiveFloat = 15.0

    @model_validator(mode="after")
    def _check_notify(self) -> NotifySettings:
        if self.sms_provider == "http" and not self.sms_http_url:
            raise ValueError("RW_SMS_HTTP_URL is required when RW_SMS_PROVIDER=http")
        if self.voice_provider == "http" and not self.voice_http_url:
            raise ValueError("RW_VOICE_HTTP_URL is required when RW_VOICE_PROVIDER=http")
        if self.dispatcher_lease_s < 1.0:
            raise ValueError("RW_DISPATCHER_LEASE_S must be at least 1 s (renewed every third)")
        if self.check_in_grace_min < 0:
            raise ValueError("RW_CHECK_IN_GRACE_MIN must not be negative")
        if self.dispatcher_max_attempts < 1:
            raise ValueError("RW_DISPATCHER_MAX_ATTEMPTS must be at least 1")
        return self

    @property
    def check_in_grace(self) -> timedelta:
        return timedelta(minutes=self.check_in_grace_min)

    def sms_file_path(self) -> Path:
        return self.sms_file if self.sms_file is not None else self.data_dir / "sms-outbox.jsonl"

    def voice_file_path(self) -> Path:
        if self.voice_file is not None:
            return self.voice_file
        return self.data_dir / "voice-outbox.jsonl"

    @field_validator("robot_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [h.strip().lower() for h in value.split(",") if h.strip()]
        return value
