"""Settings of the embedded platform: the shared RW_* settings plus what only it needs."""

from __future__ import annotations

from typing import Literal

from riskwatch.common.settings import ServiceSettings


class EmbeddedSettings(ServiceSettings):
    service_name: str = "riskwatch"
    port: int = 8000
    bus: Literal["kafka", "memory"] = "memory"  # embedded mode is the in-process bus
    # The terminal shows the live feed; logs are for problems unless RW_LOG_LEVEL says more.
    log_level: str = "WARNING"
    # The demo simulator posts readings to this process; `make run` turns it on.
    simulate: bool = False
    # Print the live feed of alarms, work orders and notifications on stdout.
    feed: bool = True
