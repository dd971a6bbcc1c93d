"""Alembic, one history per service schema: shared env.py logic and a programmatic upgrade.

A service's `migrations/env.py` is two lines: import its metadata, call `run_env(metadata)`.
`upgrade()` is synchronous (Alembic is); async callers run it in a thread.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from riskwatch.common.db import UTCDateTime


def alembic_config(migrations_dir: Path, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    return cfg


def upgrade(migrations_dir: Path, url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(migrations_dir, url), revision)


def run_env(metadata: MetaData) -> None:
    """The body of every service's env.py: migrate only that service's schema."""
    schema = metadata.schema
    if not schema:
        raise ValueError("service metadata must have a schema")

    def include_object(
        obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if type_ == "table":
            return bool(getattr(obj, "schema", None) == schema)
        return True

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        if type_ == "schema":
            return name == schema
        return True

    def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
        # Our timestamptz decorator is plain `timestamp with time zone` in the database.
        if type_ == "type" and isinstance(obj, UTCDateTime):
            return "sa.DateTime(timezone=True)"
        return False

    options: dict[str, Any] = {
        "render_item": render_item,
        "target_metadata": metadata,
        "version_table_schema": schema,
        "include_schemas": True,
        "include_object": include_object,
        "include_name": include_name,
        "compare_type": True,
    }

    if context.is_offline_mode():
        context.configure(
            url=context.config.get_main_option("sqlalchemy.url"), literal_binds=True, **options
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    def do_run(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.commit()
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        section = context.config.get_section(context.config.config_ini_section, {})
        engine = async_engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run_async())
