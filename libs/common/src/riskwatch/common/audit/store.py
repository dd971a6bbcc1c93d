"""Queries of the audit trail: append records to the chain, list them, stream them in order.

Only the owner of the trail (`AuditModule`) calls `append`: producers send records as events
(`emit`). Appends are serialized by a transaction-level advisory lock, so the chain is one line
whatever the number of consumers and API processes.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, func, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.audit.chain import GENESIS, HASHED_FIELDS, Anchor, Link, Value, extend
from riskwatch.common.audit.models import AuditRecord, Checkpoint
from riskwatch.common.errors import Invalid
from riskwatch.common.events.audit import AuditRecorded
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.pagination import decode_cursor, encode_cursor


def _lock_id(name: str) -> int:
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


CHAIN_LOCK = _lock_id("rw-audit-chain")
_INT64_MAX = 2**63 - 1


async def lock_chain(session: AsyncSession) -> None:
    """Hold the chain until the transaction ends: appends and partition drops, one at a time."""
    await session.execute(select(func.pg_advisory_xact_lock(CHAIN_LOCK)))


async def head(session: AsyncSession) -> tuple[Anchor, datetime | None]:
    """Where the next row goes (and the last row's `recorded_at`): after the last row, else at
    the latest checkpoint (every partition dropped), else at the genesis."""
    last = (
        await session.execute(
            select(AuditRecord.seq, AuditRecord.hash, AuditRecord.recorded_at)
            .order_by(AuditRecord.seq.desc())
            .limit(1)
        )
    ).first()
    if last is not None:
        return Anchor(last.seq + 1, last.hash), last.recorded_at
    checkpoint = await latest_checkpoint(session)
    return (checkpoint or GENESIS), None


async def latest_checkpoint(
    session: AsyncSession, *, at_or_before: int | None = None
) -> Anchor | None:
    stmt = select(Checkpoint.first_seq, Checkpoint.prev_hash)
    if at_or_before is not None:
        stmt = stmt.where(Checkpoint.first_seq <= at_or_before)
    found = (await session.execute(stmt.order_by(Checkpoint.first_seq.desc()).limit(1))).first()
    return Anchor(found.first_seq, found.prev_hash) if found is not None else None


def _text(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; a path or a reason could carry one. The row stores (and
    # hashes) what it can hold, visibly replaced.
    return value.replace("\x00", "\ufffd") if value is not None else None


def fields_of(event_id: str, entry: AuditRecorded, *, recorded_at: datetime) -> dict[str, Value]:
    """The hashed fields of one record, but its seq (the chain assigns it)."""
    return {
        "at": entry.at.astimezone(UTC),
        "recorded_at": recorded_at,
        "actor": _text(entry.actor),
        "roles": [r.replace("\x00", "\ufffd") for r in entry.roles],
        "scope": _text(entry.scope),
        "source_address": _text(entry.source_address),
        "service": _text(entry.service),
        "action": _text(entry.action),
        "resource": _text(entry.resource),
        "outcome": entry.outcome,
        "status": entry.status,
        "reason": _text(entry.reason),
        "before_digest": _text(entry.before_digest),
        "after_digest": _text(entry.after_digest),
        "request_id": _text(entry.request_id),
        "trace_id": _text(entry.trace_id),
        "event_id": _text(event_id),
    }


async def append(
    session: AsyncSession, records: Sequence[Envelope[AuditRecorded]], *, now: datetime
) -> list[Link]:
    """Chain `records` (in order) after the last stored row, in the caller's transaction."""
    if not records:
        return []
    if now.tzinfo is None:
        raise ValueError("naive datetime: `now` must carry a time zone")
    await lock_chain(session)
    anchor, last_recorded_at = await head(session)
    # Never earlier than the row before: a row's partition (month of recorded_at) then follows
    # seq, whatever the clocks of the processes that append.
    recorded_at = now.astimezone(UTC)
    if last_recorded_at is not None and last_recorded_at > recorded_at:
        recorded_at = last_recorded_at
    links = extend(anchor, [fields_of(r.id, r.data, recorded_at=recorded_at) for r in records])
    await session.execute(
        insert(AuditRecord),
        [{**link.fields, "prev_hash": link.prev_hash, "hash": link.hash} for link in links],
    )
    return links


@dataclass(frozen=True, slots=True)
class Filters:
    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    service: str | None = None
    resource_prefix: str | None = None
    since: datetime | None = None  # on `at`, inclusive
    until: datetime | None = None  # on `at`, exclusive


async def list_records(
    session: AsyncSession, *, filters: Filters, cursor: str | None, limit: int
) -> tuple[list[AuditRecord], str | None]:
    """Records matching `filters`, newest (highest seq) first, after `cursor`."""
    r = AuditRecord
    stmt = select(r)
    for column, value in (
        (r.actor, filters.actor),
        (r.action, filters.action),
        (r.outcome, filters.outcome),
        (r.service, filters.service),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if filters.resource_prefix is not None:
        stmt = stmt.where(r.resource.startswith(filters.resource_prefix, autoescape=True))
    if filters.since is not None:
        stmt = stmt.where(r.at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(r.at < filters.until)
    if cursor:
        recorded_at, seq = _position(cursor)
        # recorded_at rises with seq: the bound lets PostgreSQL skip later partitions.
        stmt = stmt.where(r.seq < seq, r.recorded_at <= recorded_at)
    rows = list((await session.scalars(stmt.order_by(r.seq.desc()).limit(limit + 1))).all())
    items = rows[:limit]
    if len(rows) <= limit or not items:
        return items, None
    return items, encode_cursor(items[-1].recorded_at, str(items[-1].seq))


def _position(cursor: str) -> tuple[datetime, int]:
    recorded_at, seq = decode_cursor(cursor)
    if not seq.isascii() or not seq.isdigit() or int(seq) > _INT64_MAX:
        raise Invalid("The cursor is not valid; start again without it.")
    return recorded_at, int(seq)


_COLUMNS = [getattr(AuditRecord, name) for name in (*HASHED_FIELDS, "prev_hash", "hash")]


def link_of(row: Row[Any] | AuditRecord) -> Link:
    fields = {name: getattr(row, name) for name in HASHED_FIELDS}
    return Link(seq=row.seq, prev_hash=row.prev_hash, hash=row.hash, fields=fields)


async def first_seq(session: AsyncSession) -> int | None:
    found: int | None = await session.scalar(select(func.min(AuditRecord.seq)))
    return found


async def stream_links(session: AsyncSession, *, batch: int = 5000) -> AsyncIterator[Link]:
    """Every stored row in seq order, `batch` at a time. Keyset pages, not a server-side cursor
    (which would pin the partitions it read until the transaction ends); on (seq, recorded_at),
    the primary key, so that a forged duplicate seq is seen even at a page boundary."""
    r = AuditRecord
    after: tuple[int, datetime] | None = None
    while True:
        stmt = select(*_COLUMNS).order_by(r.seq, r.recorded_at).limit(batch)
        if after is not None:
            stmt = stmt.where(tuple_(r.seq, r.recorded_at) > tuple_(*after))
        rows = (await session.execute(stmt)).all()
        for row in rows:
            yield link_of(row)
        if len(rows) < batch:
            return
        after = (rows[-1].seq, rows[-1].recorded_at)
