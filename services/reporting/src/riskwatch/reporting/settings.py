"""Settings of the reporting service."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from riskwatch.common.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
    port: int = 8005

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
