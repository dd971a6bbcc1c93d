"""Settings of the reporting service."""

from __future__ import annotations

from riskwatch.common.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
    port: int = 8005
