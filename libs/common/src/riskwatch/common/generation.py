"""Change counters that keep per-process caches exact across replicas (ADR 0009).

A service that caches a data set (alerting's rules, ingest's devices) bumps the set's counter in
the transaction that changes it; every user of the cache reads the counter (one indexed row) in
its own unit of work and reloads when it moved. Whatever committed before a unit of work began
is therefore seen by it, on every replica, with no broadcast to miss.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, MetaData, Sequence, String, Table, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession


class Generations:
    def __init__(self, metadata: MetaData) -> None:
        self.table = Table(
            "cache_generation",
            metadata,
            Column("name", String(64), primary_key=True),
            Column("generation", BigInteger, nullable=False),
        )
        self.sequence = Sequence("cache_generation_seq", metadata=metadata)

    async def bump(self, session: AsyncSession, name: str) -> None:
        """Mark `name` changed; call it in the transaction that changes it.

        The new value comes from a sequence: never handed out twice, even when a transaction
        that bumped rolls back, so a cache can never mistake one change for another.
        """
        value = self.sequence.next_value()
        stmt = insert(self.table).values(name=name, generation=value)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[self.table.c.name], set_={"generation": value}
            )
        )

    async def current(self, session: AsyncSession, name: str) -> int:
        """The counter of `name` as this transaction sees it (0 before its first change)."""
        value = await session.scalar(
            select(self.table.c.generation).where(self.table.c.name == name)
        )
        return int(value or 0)
