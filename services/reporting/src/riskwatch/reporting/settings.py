"""Settings of the reporting service."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator

from riskwatch.common.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
    port: int = 8005

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        # Months are calendar months in the district's zone: a typo must stop the process at
        # start, not turn every report request into a 500.
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name, e.g. Asia/Shanghai)"
            ) from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
