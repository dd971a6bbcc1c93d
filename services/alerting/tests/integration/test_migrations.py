"""The models and the migration history agree: autogenerate would find nothing to add."""

from __future__ import annotations

import asyncio

from alembic import command

from riskwatch.alerting.module import MIGRATIONS
from riskwatch.common.migrate import alembic_config


async def test_the_migrations_match_the_models(alerting_db: str) -> None:
    # command.check raises when the models have changes no revision carries.
    await asyncio.to_thread(command.check, alembic_config(MIGRATIONS, alerting_db))
