"""Accounts as a service sees them, to check every token against (ADR 0015): a projection of
identity's account snapshots (`rw.identity.accounts`) in the service's own schema.

`Principals(metadata)` declares a schema's `principal` table and the consumer's handler, which
keeps the newest snapshot of each account (by session epoch, then time of change: an older
snapshot arriving late changes nothing). `AccountCache` is one process's lookup in front of
it, at most `ttl_s` stale and dropped whenever this process's own consumer commits a batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.db import UTCDateTime
from riskwatch.common.events.base import EventPayload
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.identity import AccountChanged

if TYPE_CHECKING:
    from riskwatch.common.auth import Principal

# How long a process trusts what it read from its projection. Writes by this process's own
# consumer drop the cache at once; this bounds what an API-only replica (no consumer) lags.
DEFAULT_TTL_S = 1.0
DEFAULT_MAX_ENTRIES = 10_000

UNKNOWN = "The token's account is unknown or disabled."
REVOKED = "The token was revoked."


@dataclass(frozen=True, slots=True)
class AccountState:
    """What a service knows of an account: enough to admit its tokens, nothing personal."""

    username: str
    roles: tuple[str, ...]
    scope: str
    disabled: bool
    session_epoch: int
    changed_at: datetime

    @property
    def order(self) -> tuple[int, datetime]:
        """Snapshots of one account compare by this: every change of roles, scope, status or
        password bumps the epoch; within an epoch the later snapshot wins."""
        return (self.session_epoch, self.changed_at)

    @classmethod
    def of(cls, event: AccountChanged) -> AccountState:
        return cls(
            username=event.username,
            roles=tuple(event.roles),
            scope=event.scope,
            disabled=event.disabled,
            session_epoch=event.session_epoch,
            changed_at=event.changed_at,
        )


# The rules, pure ------------------------------------------------------------------------------


def merge(current: AccountState | None, incoming: AccountState) -> AccountState:
    """The state to keep when `incoming` arrives: it, if newer than `current`; else `current`
    (an older or repeated snapshot changes nothing)."""
    if current is None or incoming.order > current.order:
        return incoming
    return current


def latest(states: Iterable[AccountState]) -> dict[str, AccountState]:
    """The newest state of each account among `states`, in any order of arrival."""
    found: dict[str, AccountState] = {}
    for state in states:
        found[state.username] = merge(found.get(state.username), state)
    return found


def refusal(account: AccountState | None, *, token_version: int | None) -> str | None:
    """Why a token of this account (with claim `ver` = `token_version`) is refused, or None.

    A token newer than the account's state here (its change has not arrived yet) is admitted,
    with the state here: the projection lags identity by one event's travel. An external
    issuer's token (`token_version` None) carries no epoch of ours; its account must exist and
    be enabled all the same."""
    if account is None or account.disabled:
        return UNKNOWN
    if token_version is not None and token_version < account.session_epoch:
        return REVOKED
    return None


# The projection -------------------------------------------------------------------------------


class Principals:
    """The `principal` table of one service schema, and how its consumer keeps it."""

    def __init__(self, metadata: MetaData) -> None:
        self.table = Table(
            "principal",
            metadata,
            Column("username", String(64), primary_key=True),
            Column("roles", ARRAY(String(64)), nullable=False),
            Column("scope", String(80), nullable=False),
            Column("disabled", Boolean, nullable=False),
            Column("session_epoch", Integer, nullable=False),
            Column("changed_at", UTCDateTime(), nullable=False),
        )

    async def get(self, session: AsyncSession, *, username: str) -> AccountState | None:
        t = self.table
        row = (await session.execute(select(t).where(t.c.username == username))).first()
        if row is None:
            return None
        return AccountState(
            username=row.username,
            roles=tuple(row.roles),
            scope=row.scope,
            disabled=row.disabled,
            session_epoch=row.session_epoch,
            changed_at=row.changed_at,
        )

    async def apply(self, session: AsyncSession, states: Iterable[AccountState]) -> None:
        """Keep each account's newest state: one statement, whatever the batch holds, and a
        row is only replaced by a newer snapshot (so redelivery and reordering are harmless)."""
        newest = latest(states)
        if not newest:
            return
        t = self.table
        stmt = insert(t).values([_row(s) for s in newest.values()])
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[t.c.username],
                set_={
                    name: stmt.excluded[name]
                    for name in ("roles", "scope", "disabled", "session_epoch", "changed_at")
                },
                where=tuple_(t.c.session_epoch, t.c.changed_at)
                < tuple_(stmt.excluded.session_epoch, stmt.excluded.changed_at),
            )
        )

    async def put(self, session: AsyncSession, state: AccountState) -> None:
        """Set an account's state whatever is stored (tests and repairs; consumers `apply`)."""
        t = self.table
        stmt = insert(t).values(_row(state))
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[t.c.username],
                set_={k: v for k, v in _row(state).items() if k != "username"},
            )
        )

    async def handle(self, session: AsyncSession, events: Sequence[Envelope[EventPayload]]) -> None:
        """The consumer's batch handler (`Inbox.batch_handler`): events it does not know are
        left alone, so a later event type on the topic does not stop older consumers."""
        await self.apply(
            session, (AccountState.of(e.data) for e in events if isinstance(e.data, AccountChanged))
        )


def _row(state: AccountState) -> dict[str, object]:
    return {
        "username": state.username,
        "roles": list(state.roles),
        "scope": state.scope,
        "disabled": state.disabled,
        "session_epoch": state.session_epoch,
        "changed_at": state.changed_at,
    }


# The lookup -----------------------------------------------------------------------------------


class AccountSource(Protocol):
    """Where `auth.current_principal` finds the account of a verified token."""

    async def account(self, principal: Principal) -> AccountState | None: ...


class AccountCache:
    """One process's lookup in its projection, cached for at most `ttl_s` (misses too: a
    stream of tokens for no account costs no query each). `clear()` is called after every
    batch this process's own accounts consumer commits, so a process that runs the consumer
    sees a change as soon as it is stored; an API-only replica sees it within `ttl_s`."""

    def __init__(
        self,
        principals: Principals,
        sessions: async_sessionmaker[AsyncSession],
        *,
        ttl_s: float = DEFAULT_TTL_S,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.principals = principals
        self.sessions = sessions
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, AccountState | None]] = {}
        # Bumped by clear(): a read that began before a clear must not store what it read.
        self._generation = 0

    async def account(self, principal: Principal) -> AccountState | None:
        return await self.get(principal.subject)

    async def get(self, username: str) -> AccountState | None:
        now = self._clock()
        hit = self._entries.get(username)
        if hit is not None and hit[0] > now:
            return hit[1]
        generation = self._generation
        async with self.sessions() as session:
            found = await self.principals.get(session, username=username)
        if generation == self._generation:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()  # rare (that many accounts active within ttl_s)
            self._entries[username] = (now + self._ttl_s, found)
        return found

    def clear(self) -> None:
        self._entries.clear()
        self._generation += 1
