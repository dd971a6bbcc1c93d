"""The command line every service shares: `serve` (HTTP + components per RW_ROLE), `migrate`,
`grant-services`, and where the built-in issuer is hosted, `keys rotate`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from riskwatch.common.audit.models import SCHEMA as AUDIT_SCHEMA
from riskwatch.common.audit.models import SERVICE_ROLE as AUDIT_ROLE
from riskwatch.common.db import create_engine, create_sessionmaker
from riskwatch.common.dbroles import grant_services
from riskwatch.common.identity.keys import KeyPolicy, KeyRing
from riskwatch.common.identity.models import SCHEMA as IDENTITY_SCHEMA
from riskwatch.common.logging import configure_logging
from riskwatch.common.migrate import upgrade
from riskwatch.common.settings import ServiceSettings

IDENTITY_MIGRATIONS = Path(__file__).parent / "identity" / "migrations"
# `grant-services` takes the services' role and its password from the URL they connect with.
SERVICES_URL_ENV = "RW_SERVICES_DATABASE_URL"


def service_main(
    *,
    name: str,
    settings: ServiceSettings,
    create_app: Callable[[], FastAPI],
    migrations: Sequence[Path],
    argv: Sequence[str] | None = None,
) -> int:
    parser = argparse.ArgumentParser(prog=f"riskwatch-{name}", description=f"RiskWatch {name}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the HTTP API and, per RW_ROLE, consumers and workers")
    sub.add_parser("migrate", help="upgrade this service's schema to the latest revision")
    sub.add_parser(
        "grant-services",
        help=f"after migrate, as the owner (RW_DATABASE__URL): make the role of {SERVICES_URL_ENV}"
        " and grant it the service schemas and appending to the audit trail",
    )
    if settings.auth.builtin_issuer:
        keys = sub.add_parser("keys", help="the built-in issuer's signing keys")
        keys.add_argument("action", choices=["rotate"], help="sign with a new key from now on")
    args = parser.parse_args(argv)

    if args.command == "keys":
        for change in asyncio.run(rotate_keys(settings)):
            sys.stdout.write(f"{change}\n")
        return 0

    if args.command == "grant-services":
        services_url = os.environ.get(SERVICES_URL_ENV, "")
        if not services_url:
            sys.stderr.write(f"{SERVICES_URL_ENV} is not set: the URL the services connect with\n")
            return 2
        role = asyncio.run(
            grant_services(
                settings.database.url,
                services_url,
                audit_role=AUDIT_ROLE,
                audit_schema=AUDIT_SCHEMA,
            )
        )
        sys.stdout.write(f"granted: role {role}\n")
        return 0

    if args.command == "migrate":
        dirs = list(migrations)
        if settings.auth.builtin_issuer:
            dirs.append(IDENTITY_MIGRATIONS)
        for directory in dirs:
            upgrade(directory, settings.database.url)
            sys.stdout.write(f"migrated: {directory}\n")
        return 0

    configure_logging(level=settings.log_level, json=settings.log_json)
    uvicorn.run(
        create_app(),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=15,
    )
    return 0


async def rotate_keys(settings: ServiceSettings) -> list[str]:
    """`keys rotate`: a new signing key that signs at once (a key that may have leaked); the
    old one stays published until the tokens it signed have ended. The processes hosting the
    issuer sign with the new key within a minute; services fetch it for its first token."""
    engine = create_engine(settings.database)
    try:
        keys = KeyRing(
            create_sessionmaker(engine),
            policy=KeyPolicy.of(settings.auth),
            clock=lambda: datetime.now(UTC),
        )
        return await keys.maintain(force=True)
    finally:
        await engine.dispose()


__all__ = [
    "IDENTITY_MIGRATIONS",
    "IDENTITY_SCHEMA",
    "SERVICES_URL_ENV",
    "rotate_keys",
    "service_main",
]
