"""Alembic environment of the audit trail's `audit` schema.

`riskwatch.common.migrate.run_env`, but blind to the monthly partitions of `audit.record`
(`record_YYYY_MM`): housekeeping creates and drops them, so they are not in the models, and
autogenerate must not offer to drop them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from riskwatch.common.audit.models import SCHEMA, Base
from riskwatch.common.audit.months import Month
from riskwatch.common.db import UTCDateTime


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if type_ == "table":
        return bool(getattr(obj, "schema", None) == SCHEMA)
    return True


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    if type_ == "schema":
        return name == SCHEMA
    # A partition is never reflected (nor its copies of the parent's indexes).
    return not (type_ == "table" and name and Month.of_partition(name))


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


OPTIONS: dict[str, Any] = {
    "render_item": render_item,
    "target_metadata": Base.metadata,
    "version_table_schema": SCHEMA,
    "include_schemas": True,
    "include_object": include_object,
    "include_name": include_name,
    "compare_type": True,
}


def do_run(connection: Connection) -> None:
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
    connection.commit()
    context.configure(connection=connection, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


async def run_async() -> None:
    section = context.config.get_section(context.config.config_ini_section, {})
    engine = async_engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(do_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"), literal_binds=True, **OPTIONS
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_async())
