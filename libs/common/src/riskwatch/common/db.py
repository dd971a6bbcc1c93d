"""PostgreSQL access: declarative bases with one schema per service, the async engine, sessions.

Each service declares its own `Base` on `service_metadata("<schema>")`, so its tables live in
its own schema and no service reads another's. One transaction per request or consumed event:
callers open `async with session.begin()`; service code flushes, never commits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, TypeDecorator, func
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.common.settings import DatabaseSettings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """timestamptz that refuses naive datetimes and always hands back UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: timestamps must carry a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None


def utcnow() -> datetime:
    return datetime.now(UTC)


TYPE_ANNOTATION_MAP: dict[Any, Any] = {datetime: UTCDateTime()}


def service_metadata(schema: str) -> MetaData:
    """The MetaData of one service: its own schema and our naming convention.

    Each service declares its base with it (a class statement, so type checkers see it)::

        class Base(DeclarativeBase):
            metadata = service_metadata("alerting")
            type_annotation_map = TYPE_ANNOTATION_MAP
    """
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    # Fetch server-set timestamps with RETURNING: otherwise `updated_at` is expired after an
    # UPDATE and reading it afterwards would need lazy I/O, which async sessions cannot do.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 - read by SQLAlchemy, not mutated

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), onupdate=func.now()
    )


def create_engine(settings: DatabaseSettings, **overrides: Any) -> AsyncEngine:
    options: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_size": settings.pool_size,
        "pool_timeout": settings.pool_timeout_s,
        "max_overflow": settings.max_overflow,
        "echo": settings.echo,
    }
    options.update(overrides)
    return create_async_engine(settings.url, **options)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session, one transaction: committed when the block ends, rolled back on error."""
    async with sessions() as session, session.begin():
        yield session
