"""Settings of the alerting service."""

from __future__ import annotations

from riskwatch.common.events.base import Level
from riskwatch.common.settings import ServiceSettings


class AlertingSettings(ServiceSettings):
    service_name: str = "alerting"
    port: int = 8002
    # The level of the technical alarm a device offline raises (RW_LIVENESS_ALARM_LEVEL).
    liveness_alarm_level: Level = Level.BLUE
