"""Settings of the notify service."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, model_validator

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

    # Demo duty centers, members and rosters (the bundled import file), so someone is always on
    # duty in a demo.
    seed_demo_roster: bool = False

    # Check-in (报到): if nobody at a center has checked in this long after a shift starts, its
    # leader is told and its alarms also go to the next level up.
    check_in_grace_min: float = 15.0
    check_in_watch_interval_s: float = 15.0

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

    @model_validator(mode="after")
    def _check_notify(self) -> NotifySettings:
        if self.sms_provider == "http" and not self.sms_http_url:
            raise ValueError("RW_SMS_HTTP_URL is required when RW_SMS_PROVIDER=http")
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
