"""The built-in issuer as a service module: hosted by ingest in distributed mode (when
`RW_AUTH__BUILTIN_ISSUER` is set) and by the embedded platform."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import structlog
from fastapi import APIRouter

from riskwatch.common.app import Named, Runtime, relay
from riskwatch.common.bus import TopicSpec
from riskwatch.common.events.topics import AUDIT
from riskwatch.common.identity.models import SCHEMA, outbox
from riskwatch.common.identity.passwords import shared_hashing
from riskwatch.common.identity.router import IDENTITY_KEY, routers
from riskwatch.common.identity.service import Identity, seed_admin
from riskwatch.common.settings import ServiceSettings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
GENERATED_ADMIN_PASSWORD = "generated_admin_password"  # noqa: S105 - a key of Runtime.extras

log = structlog.get_logger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class IdentityModule:
    """Accounts, logins and the audit records they produce (relayed from identity's outbox).

    At start it makes sure `admin` exists (RW_ADMIN_PASSWORD, or a generated password kept in
    `runtime.extras["generated_admin_password"]` and, when `announce`, written to the
    terminal once).
    """

    name = "identity"
    schema = SCHEMA
    migrations_dir = MIGRATIONS
    outbox = outbox

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        clock: Callable[[], datetime] = _utcnow,
        announce: bool = True,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._announce = announce

    def routers(self) -> Sequence[APIRouter]:
        return routers

    def topics(self, runtime: Runtime) -> Sequence[TopicSpec]:
        return [TopicSpec(AUDIT, runtime.settings.kafka.default_partitions)]

    async def components(self, runtime: Runtime) -> Sequence[Named]:
        auth = self.settings.auth
        identity = Identity(auth=auth, hashing=shared_hashing(auth.hash_workers), clock=self._clock)
        runtime.extras[IDENTITY_KEY] = identity
        weak = self.settings.admin_password_violations()
        if weak:  # production refused to start already (ServiceSettings)
            log.warning("weak_admin_password", env=self.settings.env, reasons=weak)
        password = self.settings.admin_password
        runtime.extras[GENERATED_ADMIN_PASSWORD] = await seed_admin(
            runtime.sessions,
            password=password.get_secret_value() if password else None,
            hashing=identity.hashing,
            announce=self._announce,
        )
        return [relay(runtime, outbox)]
