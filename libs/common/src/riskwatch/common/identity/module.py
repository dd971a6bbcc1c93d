"""The built-in issuer as a service module: hosted by ingest in distributed mode (when
`RW_AUTH__BUILTIN_ISSUER` is set) and by the embedded platform."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from fastapi import APIRouter

from riskwatch.common.app import Named, Runtime, accounts_topics, relay
from riskwatch.common.auth import Principal
from riskwatch.common.bus import TopicSpec
from riskwatch.common.events.topics import AUDIT
from riskwatch.common.identity import sessions
from riskwatch.common.identity.demo import demo_accounts
from riskwatch.common.identity.keys import KeyPolicy, KeyRing
from riskwatch.common.identity.models import SCHEMA, outbox
from riskwatch.common.identity.passwords import shared_hashing
from riskwatch.common.identity.publication import publish_unpublished
from riskwatch.common.identity.router import IDENTITY_KEY, KEYRING_KEY, routers
from riskwatch.common.identity.service import Identity, seed_accounts, seed_admin
from riskwatch.common.periodic import Periodic
from riskwatch.common.settings import ServiceSettings, TrustedIssuer

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
GENERATED_ADMIN_PASSWORD = "generated_admin_password"  # noqa: S105 - a key of Runtime.extras

# Key rotation falls due in days; ended sessions are forgotten after a day.
HOUSEKEEPING_INTERVAL_S = 600.0

log = structlog.get_logger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class IdentityModule:
    """Accounts, logins, sessions, the signing keys (rotated by its housekeeping worker) and
    the audit records they produce (relayed from identity's outbox).

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
        return [
            TopicSpec(AUDIT, runtime.settings.kafka.default_partitions),
            *accounts_topics(runtime),  # it publishes every account's snapshot (ADR 0015)
        ]

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
        demo = self.settings.demo_password
        if demo is not None:
            await seed_accounts(
                runtime.sessions,
                demo_accounts(demo.get_secret_value()),
                catalog=runtime.catalog,
                hashing=identity.hashing,
            )
        # Accounts whose snapshot the topic may lack (older than ADR 0015, or changed in the
        # database directly): their events go out with the relay, to every service.
        staged = await publish_unpublished(runtime.sessions)
        if staged:
            log.info("account_snapshots_staged", accounts=staged)
        keys = await self._host_issuer(runtime, identity)
        return [relay(runtime, outbox), self._housekeeping(runtime, identity, keys)]

    async def _host_issuer(self, runtime: Runtime, identity: Identity) -> KeyRing:
        """Give the app's token service the issuer's keys (the first one made, or a rotation
        that fell due while no process ran), and the accounts behind external subjects."""
        keys = KeyRing(runtime.sessions, policy=KeyPolicy.of(identity.auth), clock=self._clock)
        await keys.maintain()
        await keys.read()
        runtime.extras[KEYRING_KEY] = keys

        async def resolve(
            username: str, claims: Mapping[str, Any], trusted: TrustedIssuer
        ) -> Principal:
            return await sessions.external_principal(
                runtime.sessions,
                identity=identity,
                username=username,
                claims=claims,
                trusted=trusted,
            )

        runtime.tokens.host_issuer(
            keys=keys.keyset,
            signing_key=keys.signing_key,
            resolve_account=resolve,
            clock=self._clock,
        )
        return keys

    def _housekeeping(self, runtime: Runtime, identity: Identity, keys: KeyRing) -> Named:
        async def job() -> None:
            await keys.maintain()
            pruned = await sessions.prune(runtime.sessions, identity=identity)
            if pruned:
                log.info("sessions_pruned", sessions=pruned)

        periodic = Periodic("identity-housekeeping", job, interval_s=HOUSEKEEPING_INTERVAL_S)
        return Named("worker", "identity-housekeeping", periodic)
