"""Settings of the alerting service."""

from __future__ import annotations

from riskwatch.common.settings import ServiceSettings


class AlertingSettings(ServiceSettings):
    service_name: str = "alerting"
    port: int = 8002
