"""Use cases of the built-in issuer: check a password, seed the admin account."""

from __future__ import annotations

import secrets
import sys

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.errors import Unauthorized
from riskwatch.common.identity.models import Account

_hasher = PasswordHasher()
# Verified when the user is unknown, so a wrong username costs as much as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


async def authenticate(session: AsyncSession, *, username: str, password: str) -> Account:
    account = await session.get(Account, username)
    try:
        _hasher.verify(account.password_hash if account else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        account = None
    if account is None or not account.active:
        raise Unauthorized("Wrong username or password.")
    return account


async def ensure_admin(session: AsyncSession, *, password: str | None) -> str | None:
    """Create `admin` if missing, or reset its password when one is given.

    Returns the generated password when it had to make one up (first start, no password
    configured): the caller prints it once and never stores it in clear text.
    """
    account = await session.get(Account, "admin")
    if account is not None:
        if password:
            account.password_hash = _hasher.hash(password)
        return None
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(12)
    session.add(
        Account(
            username="admin",
            password_hash=_hasher.hash(password),
            display_name="Administrator",
            roles=["admin"],
        )
    )
    await session.flush()
    return generated


async def list_usernames(session: AsyncSession) -> list[str]:
    return list((await session.scalars(select(Account.username))).all())


async def seed_admin(sessions: async_sessionmaker[AsyncSession], *, password: str | None) -> None:
    """Startup hook of the process hosting the issuer: make sure `admin` can log in."""
    async with sessions() as session, session.begin():
        generated = await ensure_admin(session, password=password)
    if generated:
        # Straight to the terminal, never into the structured logs that are kept for months.
        sys.stderr.write(
            "\n  RiskWatch admin account created.\n"
            f"  username: admin   password: {generated}\n"
            "  Shown once. Set RW_ADMIN_PASSWORD to choose it (or reset it) on the next start.\n\n"
        )
        sys.stderr.flush()
