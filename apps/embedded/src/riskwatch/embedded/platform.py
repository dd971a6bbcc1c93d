"""All five services in one process on the in-process bus: the composition root.

This is the only package allowed to import every service; the services never import each
other. Each service gets its own settings object (its own RW_* fields apply), sharing the
database URL, the bus, the auth settings and the catalog of this process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI

from riskwatch.alerting.module import AlertingModule
from riskwatch.alerting.settings import AlertingSettings
from riskwatch.common.app import ServiceModule, build_app
from riskwatch.common.audit.module import AuditModule
from riskwatch.common.bus import Bus, MemoryBus
from riskwatch.common.cli import IDENTITY_MIGRATIONS
from riskwatch.common.identity.module import IdentityModule
from riskwatch.common.settings import ServiceSettings
from riskwatch.embedded.feed import FeedModule
from riskwatch.embedded.settings import EmbeddedSettings
from riskwatch.ingest.module import IngestModule
from riskwatch.ingest.mqtt.settings import MqttSettings
from riskwatch.ingest.settings import IngestSettings
from riskwatch.notify.module import NotifyModule
from riskwatch.notify.settings import NotifySettings
from riskwatch.reporting.module import ReportingModule
from riskwatch.reporting.settings import ReportingSettings
from riskwatch.workorder.module import WorkOrderModule
from riskwatch.workorder.settings import WorkOrderSettings

S = TypeVar("S", bound=ServiceSettings)

# Fields every service shares with the platform process; the rest stay each service's own.
_SHARED = (
    "env",
    "log_level",
    "log_json",
    "data_dir",
    "catalog_path",
    "auth",
    "consumer",
    "outbox_poll_interval_s",
    "admin_password",
    "demo_password",
    "sectors",
    "http",
)


def service_settings(cls: type[S], base: EmbeddedSettings, database_url: str, **extra: Any) -> S:
    shared = {name: getattr(base, name) for name in _SHARED}
    database = base.database.model_copy(update={"url": database_url})
    return cls(**shared, bus="memory", database=database, **extra)


def _mqtt(base: EmbeddedSettings) -> MqttSettings:
    """The embedded broker keeps its password and ACL files in the data directory."""
    if base.mqtt.broker_dir is not None:
        return base.mqtt
    return base.mqtt.model_copy(update={"broker_dir": Path(base.data_dir) / "mqtt"})


def modules(
    base: EmbeddedSettings, database_url: str, *, owner_url: str | None = None
) -> list[ServiceModule]:
    """The platform's modules on `database_url`; `owner_url`, where the services connect as a
    role of their own (riskwatch.embedded.database), is the owner's, for the audit trail's
    housekeeping."""
    found: list[ServiceModule] = [
        # The token issuer; the banner shows a generated admin password, not stderr.
        IdentityModule(service_settings(ServiceSettings, base, database_url), announce=False),
        IngestModule(
            service_settings(IngestSettings, base, database_url, mqtt=_mqtt(base)),
            owner_url=owner_url,
        ),
        AlertingModule(service_settings(AlertingSettings, base, database_url)),
        WorkOrderModule(
            service_settings(WorkOrderSettings, base, database_url, seed_demo_manual=True)
        ),
        NotifyModule(
            service_settings(
                NotifySettings,
                base,
                database_url,
                seed_demo_roster=True,
                sms_file=Path(base.data_dir) / "sms-outbox.jsonl",
            )
        ),
        ReportingModule(service_settings(ReportingSettings, base, database_url)),
        AuditModule(service_settings(ReportingSettings, base, database_url), owner_url=owner_url),
    ]
    if base.feed:
        found.append(FeedModule(base))
    return found


def migration_dirs() -> list[Path]:
    dirs = [IDENTITY_MIGRATIONS, AuditModule.migrations_dir]
    dirs += [
        m.migrations_dir
        for m in (IngestModule, AlertingModule, WorkOrderModule, NotifyModule, ReportingModule)
        if m.migrations_dir is not None
    ]
    return dirs


index = APIRouter(include_in_schema=False)


@index.get("/")
async def root() -> dict[str, Any]:
    return {
        "name": "RiskWatch",
        "docs": "/docs",
        "openapi": "/openapi.json",
        "token": "/api/v1/auth/token",
        "see": [
            "/api/v1/alarms",
            "/api/v1/workorders",
            "/api/v1/notifications",
            "/api/v1/reports/monthly",
            "/api/v1/devices",
            "/api/v1/rules",
            "/api/v1/catalog",
        ],
        "health": ["/healthz", "/readyz", "/metrics"],
    }


def create_platform(
    settings: EmbeddedSettings,
    database_url: str,
    *,
    bus: Bus | None = None,
    owner_url: str | None = None,
) -> FastAPI:
    app = build_app(
        title="RiskWatch",
        description=(
            "City safety-risk monitoring and early warning: readings in, graded alarms, "
            "work orders, notifications to whoever is on duty, operations reports. "
            "Authorize with the admin account (password flow) to try the API."
        ),
        settings=settings.model_copy(
            update={"database": settings.database.model_copy(update={"url": database_url})}
        ),
        modules=modules(settings, database_url, owner_url=owner_url),
        bus=bus or MemoryBus(default_partitions=settings.kafka.default_partitions),
        extra_routers=[index],
    )
    return app
