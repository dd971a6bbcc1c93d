"""Settings of the audit trail's owner: `RW_AUDIT__RETENTION_DAYS` and the housekeeping's, whose
`RW_AUDIT__OWNER_URL` is where the owner of `audit.record` connects to make and drop partitions
when the services' own role may only read and append (docs/adr/0012).

Read from the environment by whichever process hosts `AuditModule` (reporting, or the embedded
platform), when the module is made, never at import time.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Seed 004: the trail is kept at least 184 days (six months).
MIN_RETENTION_DAYS = 184


class AuditSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RW_AUDIT__", extra="ignore", case_sensitive=False)

    retention_days: int = MIN_RETENTION_DAYS
    housekeeping_interval_s: float = 3600.0
    months_ahead: int = Field(default=2, ge=1)  # partitions made ahead of the current month
    # The owner's database URL, for housekeeping only (a connection per run); unset, it runs on
    # the service's own connections, which then must be the owner's.
    owner_url: SecretStr | None = None

    @field_validator("retention_days")
    @classmethod
    def _at_least_the_legal_minimum(cls, value: int) -> int:
        if value < MIN_RETENTION_DAYS:
            raise ValueError(
                f"the audit trail is kept at least {MIN_RETENTION_DAYS} days; "
                f"RW_AUDIT__RETENTION_DAYS={value} is less"
            )
        return value

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.retention_days)
