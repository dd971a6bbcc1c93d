"""The command line every service shares: `serve` (HTTP + components per RW_ROLE), `migrate`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from riskwatch.common.identity.models import SCHEMA as IDENTITY_SCHEMA
from riskwatch.common.logging import configure_logging
from riskwatch.common.migrate import upgrade
from riskwatch.common.settings import ServiceSettings

IDENTITY_MIGRATIONS = Path(__file__).parent / "identity" / "migrations"


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
    args = parser.parse_args(argv)

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


__all__ = ["IDENTITY_MIGRATIONS", "IDENTITY_SCHEMA", "service_main"]
