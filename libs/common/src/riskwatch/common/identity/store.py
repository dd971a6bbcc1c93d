"""Queries of the built-in issuer: accounts, the recent login failures that lock them, and
sessions with their refresh tokens."""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import Scope
from riskwatch.common.identity.models import Account, AuthSession, LoginFailure, RefreshToken
from riskwatch.common.pagination import keyset, page_of

ACCOUNT = "account"  # a failure counted against the username that was given
ADDRESS = "address"  # ... and against the client address it came from
KEY_MAX = 64


def visible_to(scope: Scope) -> ColumnElement[bool]:
    """Accounts inside `scope`: the district sees all; a sector its own; a town its own and
    its villages'; a village its own."""
    return scope.clause(sector=Account.sector_id, town=Account.town_id, village=Account.village_id)


async def get_account(
    session: AsyncSession, *, username: str, scope: Scope | None = None, for_update: bool = False
) -> Account | None:
    stmt = select(Account).where(Account.username == username)
    if scope is not None:
        stmt = stmt.where(visible_to(scope))
    if for_update:
        stmt = stmt.with_for_update()
    found: Account | None = await session.scalar(stmt)
    return found


async def list_accounts(
    session: AsyncSession,
    *,
    visible: Scope,
    role: str | None = None,
    scope: Scope | None = None,
    disabled: bool | None = None,
    cursor: str | None = None,
    limit: int,
) -> tuple[list[Account], str | None]:
    stmt = select(Account).where(visible_to(visible))
    if role is not None:
        stmt = stmt.where(Account.roles.contains([role]))
    if scope is not None:
        stmt = stmt.where(Account.scope == str(scope))
    if disabled is not None:
        stmt = stmt.where(Account.disabled.is_(disabled))
    stmt = keyset(stmt, at=Account.created_at, id_=Account.username, cursor=cursor, limit=limit)
    rows: Sequence[Account] = (await session.scalars(stmt)).all()
    return page_of(rows, limit=limit, at="created_at", id_="username")


def failure_keys(*, username: str, source: str | None) -> list[tuple[str, str]]:
    keys = [(ACCOUNT, username[:KEY_MAX])]
    if source:
        keys.append((ADDRESS, source[:KEY_MAX]))
    return keys


@dataclass(frozen=True, slots=True)
class Lock:
    kind: str  # ACCOUNT or ADDRESS
    retry_after_s: int


async def current_lock(
    session: AsyncSession,
    *,
    username: str,
    source: str | None,
    now: datetime,
    max_failures: int,
    window_s: int,
) -> Lock | None:
    """The lock on this username or this address, if `max_failures` failures of either fall
    within the window before `now`. It lifts when the oldest of the last `max_failures` leaves
    the window; attempts refused meanwhile are not failures, so they never prolong it."""
    window = timedelta(seconds=window_s)
    for kind, key in failure_keys(username=username, source=source):
        oldest_counted = await session.scalar(
            select(LoginFailure.at)
            .where(
                LoginFailure.kind == kind, LoginFailure.key == key, LoginFailure.at > now - window
            )
            .order_by(LoginFailure.at.desc())
            .offset(max_failures - 1)
            .limit(1)
        )
        if oldest_counted is not None:
            remaining = (oldest_counted + window - now).total_seconds()
            return Lock(kind, max(1, math.ceil(remaining)))
    return None


async def add_failure(
    session: AsyncSession, *, username: str, source: str | None, now: datetime, window_s: int
) -> None:
    """Count one failure against the username and the address; forget those past the window
    (the table holds 15 minutes of failures, not a history: the audit trail is that)."""
    await session.execute(
        delete(LoginFailure).where(LoginFailure.at <= now - timedelta(seconds=window_s))
    )
    session.add_all(
        LoginFailure(kind=kind, key=key, at=now)
        for kind, key in failure_keys(username=username, source=source)
    )
    await session.flush()


async def clear_failures(session: AsyncSession, *, username: str) -> None:
    """A successful login or a new password ends the account's count; the address's stays, or
    an attacker who owns one account could clear the count of the address it guesses from."""
    await session.execute(
        delete(LoginFailure).where(
            LoginFailure.kind == ACCOUNT, LoginFailure.key == username[:KEY_MAX]
        )
    )


# Sessions and refresh tokens -----------------------------------------------------------------


def token_digest(token: str) -> str:
    """What is stored of a refresh token: its SHA-256 (the token is 256 random bits, so no
    salt or slow hash is needed for it to be useless to whoever reads the table)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def add_refresh_token(session: AsyncSession, *, sid: str, now: datetime) -> str:
    """A new refresh token of session `sid`; returned in clear this once."""
    token = secrets.token_urlsafe(32)
    session.add(RefreshToken(hash=token_digest(token), sid=sid, issued_at=now, used_at=None))
    await session.flush()
    return token


async def open_session(
    session: AsyncSession,
    *,
    account: Account,
    amr: Sequence[str],
    now: datetime,
    max_s: int,
) -> tuple[str, str]:
    """A session for a login of `account`, and its first refresh token: (sid, token)."""
    sid = uuid.uuid4().hex
    session.add(
        AuthSession(
            sid=sid,
            username=account.username,
            session_epoch=account.session_epoch,
            amr=list(amr),
            created_at=now,
            last_used_at=now,
            expires_at=now + timedelta(seconds=max_s),
            revoked_at=None,
            revoked_reason=None,
        )
    )
    await session.flush()
    return sid, await add_refresh_token(session, sid=sid, now=now)


async def get_refresh_token(session: AsyncSession, *, token: str) -> RefreshToken | None:
    """The refresh token, locked: two requests spending it wait for each other."""
    found: RefreshToken | None = await session.get(
        RefreshToken, token_digest(token), with_for_update=True
    )
    return found


async def get_session(
    session: AsyncSession, *, sid: str, for_update: bool = False
) -> AuthSession | None:
    found: AuthSession | None = await session.get(AuthSession, sid, with_for_update=for_update)
    return found


async def prune_sessions(session: AsyncSession, *, before: datetime, idle_s: int) -> int:
    """Delete the sessions (with their refresh tokens) that had ended before `before`: past
    their maximum age, revoked, or idle. Until then a reused token still finds its session."""
    result = await session.execute(
        delete(AuthSession).where(
            or_(
                AuthSession.expires_at < before,
                AuthSession.revoked_at < before,
                AuthSession.last_used_at < before - timedelta(seconds=idle_s),
            )
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
