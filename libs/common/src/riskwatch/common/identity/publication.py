"""Account snapshots on `rw.identity.accounts`, so that every service checks tokens against
the account (ADR 0015): staged through identity's outbox in the transaction of each account
write, and at start for any account whose current snapshot was never published.

A snapshot holds what a service needs to admit a token (roles, scope, disabled, session
epoch), never a password hash, a phone or a name.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.audit.emit import digest
from riskwatch.common.events.envelope import new_event
from riskwatch.common.events.identity import AccountChanged
from riskwatch.common.events.topics import ACCOUNTS
from riskwatch.common.identity.models import SCHEMA, Account, outbox


def snapshot_of(account: Account, *, at: datetime) -> AccountChanged:
    return AccountChanged(
        username=account.username,
        roles=list(account.roles),
        scope=account.scope,
        disabled=account.disabled,
        session_epoch=account.session_epoch,
        changed_at=at,
    )


def snapshot_digest(account: Account) -> str:
    """What tells whether the topic holds the account's current snapshot (not its time)."""
    return digest(snapshot_of(account, at=datetime.min.replace(tzinfo=UTC))) or ""


async def stage_if_changed(
    session: AsyncSession, account: Account, *, at: datetime | None = None
) -> bool:
    """Stage the account's snapshot in `session`'s transaction unless the topic has it already
    (a change of the display name or phone is no change to the services). Call it after every
    write of an account; returns whether it staged one."""
    current = snapshot_digest(account)
    if account.published_digest == current:
        return False
    # The transaction's wall clock orders snapshots of one epoch; epochs order the rest.
    event = snapshot_of(account, at=at or datetime.now(UTC))
    envelope = new_event(event, source=f"/riskwatch/{SCHEMA}", subject=account.username)
    await outbox.add(session, ACCOUNTS, envelope, key=account.username)
    account.published_digest = current
    return True


async def publish_unpublished(sessions: async_sessionmaker[AsyncSession]) -> int:
    """At the issuer's start: stage the snapshot of every account the topic may lack (made
    before this existed, by a migration, or changed directly in the database). Idempotent;
    replicas starting together skip the rows another one holds. Returns how many."""
    staged = 0
    async with sessions() as session, session.begin():
        accounts = (
            await session.scalars(
                select(Account).order_by(Account.username).with_for_update(skip_locked=True)
            )
        ).all()
        for account in accounts:
            staged += await stage_if_changed(session, account)
    return staged
