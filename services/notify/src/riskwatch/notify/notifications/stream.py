"""The in-app live stream's cursor and read (ADR 0018): a person's in-app notifications in
(inserting transaction id, sequence) order, handed out only below the horizon, the oldest
transaction still running, so that a row committed late never falls behind a cursor."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    Text,
    func,
    literal,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.errors import Invalid
from riskwatch.notify.notifications.domain import ChannelKind
from riskwatch.notify.notifications.models import Notification

BIGINT_MAX = 2**63 - 1
# Digits only, no sign and no leading zero: a cursor has one spelling, so what a client sends
# back is exactly what it was given. At most 19 digits: beyond them no bigint fits anyway.
_CURSOR = re.compile(r"(0|[1-9][0-9]{0,18})-(0|[1-9][0-9]{0,18})")
# Rows of one read. A stream that gets a full batch reads again at once instead of waiting.
BATCH = 100
# The partial index ix_notification_stream is `WHERE channel = 'in_app'`. The value must reach
# the planner as a literal: a bound parameter cannot prove the index's predicate in a generic
# plan, and asyncpg's prepared statements get one after five runs.
_IN_APP: ColumnElement[str] = literal_column(f"'{ChannelKind.IN_APP.value}'")


class InvalidCursor(Invalid):
    """422 like every other value the API cannot take (a NUL in any query parameter is one,
    platform-wide), with its own problem type."""

    code = "invalid-last-event-id"
    title = "Invalid Last-Event-ID"


@dataclass(frozen=True, order=True, slots=True)
class Cursor:
    """Where a stream stands: every row at or before (txid, seq), in that order, is behind it.
    Sent as the `id` of each event ("<txid>-<seq>"), and read back from `Last-Event-ID`."""

    txid: int
    seq: int

    def __post_init__(self) -> None:
        if not (0 <= self.txid <= BIGINT_MAX and 0 <= self.seq <= BIGINT_MAX):
            raise ValueError(f"a cursor is two bigints from 0, not ({self.txid}, {self.seq})")

    @classmethod
    def before(cls, txid: int) -> Cursor:
        """Before every row of transaction `txid` and of all later ones (sequences start at 1)."""
        return cls(txid, 0)

    @classmethod
    def of(cls, row: Notification) -> Cursor:
        return cls(row.txid, row.seq)

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """The cursor an event id names; `InvalidCursor` for anything else."""
        match = _CURSOR.fullmatch(text)
        if match is None:
            raise InvalidCursor(
                "Last-Event-ID is not the id of an event of this stream (<txid>-<seq>); "
                "reconnect without it to start from now."
            )
        txid, seq = int(match[1]), int(match[2])
        if txid > BIGINT_MAX or seq > BIGINT_MAX:
            raise InvalidCursor("Last-Event-ID is out of range; reconnect without it.")
        return cls(txid, seq)

    def __str__(self) -> str:
        return f"{self.txid}-{self.seq}"


@dataclass(frozen=True, slots=True)
class Batch:
    rows: list[Notification]
    # Where the next read starts: after the last row, or at the horizon once everything below
    # it has been read (so the next read skips what this one already looked at).
    cursor: Cursor
    # A full batch: more rows may be waiting below the horizon.
    more: bool


async def horizon(session: AsyncSession) -> int:
    """The oldest transaction still running as `session`'s snapshot sees it (pg_snapshot_xmin).
    Every transaction below it has ended, so its rows are visible or gone for good; transactions
    still running and all later ones have ids at or above it."""
    xmin = func.pg_snapshot_xmin(func.pg_current_snapshot())
    value = await session.scalar(select(xmin.cast(Text).cast(BigInteger)))
    if value is None:  # pg_snapshot_xmin of a snapshot is never null
        raise RuntimeError("PostgreSQL returned no snapshot xmin")
    return int(value)


def rows_after(*, person_id: str, after: Cursor, below: int, limit: int) -> Select[Notification]:
    """The query of one read: on ix_notification_stream (person_id, txid, seq), in its order."""
    return (
        select(Notification)
        .where(
            Notification.person_id == person_id,
            Notification.channel == _IN_APP,
            # Bound as bigints whatever their value: one statement text, one prepared plan.
            tuple_(Notification.txid, Notification.seq)
            > tuple_(literal(after.txid, BigInteger), literal(after.seq, BigInteger)),
            Notification.txid < below,
        )
        .order_by(Notification.txid, Notification.seq)
        .limit(limit)
    )


async def start_now(sessions: async_sessionmaker[AsyncSession]) -> Cursor:
    """The cursor of a stream that starts now: before every transaction still running and every
    later one. A row committed after this read is never behind it; one of a transaction that
    ended a moment before may be handed out too (a client shows it once, by its id)."""
    async with sessions() as session:
        return Cursor.before(await horizon(session))


async def read_after(
    sessions: async_sessionmaker[AsyncSession],
    *,
    person_id: str,
    after: Cursor,
    limit: int = BATCH,
) -> Batch:
    """`person_id`'s in-app notifications after `after` and below the horizon, in cursor
    order, at most `limit`: one short read-only transaction, its connection back in the pool
    when this returns."""
    async with sessions() as session:
        # Both statements on one snapshot, so the horizon is the one the rows were read below.
        await session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        below = await horizon(session)
        query = rows_after(person_id=person_id, after=after, below=below, limit=limit)
        rows = list(await session.scalars(query))
    cursor = Cursor.of(rows[-1]) if rows else after
    more = len(rows) == limit
    if not more:
        # Nothing else below the horizon, and whatever commits from now on has a txid at or
        # above it: the next read may start there.
        cursor = max(cursor, Cursor.before(below))
    return Batch(rows, cursor, more)
