"""Use cases of sessions: refreshing tokens, logging out, enrolling a second factor, and the
accounts behind the tokens of a trusted external issuer.

A login opens a session (`service.log_in`); its refresh token is good once and each use gives
the next one. The session ends at logout, when unused for RW_AUTH__SESSION_IDLE_S, at
RW_AUTH__SESSION_MAX_S, when its account changes (session epoch), and when a spent refresh token
comes back: someone holds a copy, so neither copy may go on. Like logins, these open their own
transactions, so that a refusal and its audit record are committed before it is answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.access import ROLES, Scope
from riskwatch.common.audit.emit import ANONYMOUS, AuditContext
from riskwatch.common.auth import SECOND_FACTORS, Principal
from riskwatch.common.errors import AppError, Forbidden, Invalid, InvalidState, Unauthorized
from riskwatch.common.identity import store, totp
from riskwatch.common.identity.models import Account, AuthSession, RefreshToken
from riskwatch.common.identity.publication import stage_if_changed
from riskwatch.common.identity.service import (
    Identity,
    Trail,
    get_account_or_raise,
    snapshot,
    totp_required,
)
from riskwatch.common.settings import TrustedIssuer

REFRESH = "auth.refresh"
REFRESH_REUSE = "auth.refresh_reuse"
LOGOUT = "auth.logout"
TOTP_ENROLMENT = "auth.totp_enrolment"
INVALID_REFRESH = "The refresh token is not valid (any more); log in again."
# Why a session ended (`session.revoked_reason`).
REUSED = "refresh-token-reused"
LOGGED_OUT = "logout"
EXPIRED = "expired"
IDLE = "idle"
ACCOUNT_CHANGED = "account-changed"
SECOND_FACTOR_MISSING = "second-factor-required"


@dataclass(frozen=True, slots=True)
class Refreshed:
    """A refresh that went through: the account as it is now, and the session's next token."""

    account: Account
    session_id: str
    amr: tuple[str, ...]
    refresh_token: str


def end_reason(
    auth_session: AuthSession,
    token: RefreshToken,
    account: Account | None,
    *,
    identity: Identity,
    now: datetime,
) -> str | None:
    """Why `token` cannot continue `auth_session` at `now`, or None if it can."""
    if token.used_at is not None:
        return REUSED
    if auth_session.revoked_at is not None:
        return auth_session.revoked_reason or LOGGED_OUT
    if now >= auth_session.expires_at:
        return EXPIRED
    if now - auth_session.last_used_at >= timedelta(seconds=identity.auth.session_idle_s):
        return IDLE
    if account is None or account.disabled or account.session_epoch != auth_session.session_epoch:
        return ACCOUNT_CHANGED
    if totp_required(identity, account) and account.totp_secret is None:
        return SECOND_FACTOR_MISSING  # an administrator, since RW_AUTH__REQUIRE_TOTP_... is on
    if account.totp_secret is not None and "otp" not in auth_session.amr:
        return SECOND_FACTOR_MISSING  # a factor added since: log in with it
    return None


async def refresh(
    sessions: async_sessionmaker[AsyncSession],
    *,
    identity: Identity,
    trail: Trail,
    refresh_token: str,
) -> Refreshed:
    """Spend `refresh_token` for the session's next one, with the account's roles and scope as
    they are now; or 401, ending the session when the token was spent already."""
    now = identity.clock()
    async with sessions() as session, session.begin():
        found = await store.get_refresh_token(session, token=refresh_token)
        auth_session = (
            await store.get_session(session, sid=found.sid, for_update=True) if found else None
        )
        if found is None or auth_session is None:
            await trail(
                session,
                action=REFRESH,
                outcome="failure",
                actor=ANONYMOUS,
                status=401,
                reason="unknown refresh token",
            )
            refusal = Unauthorized(INVALID_REFRESH)
        else:
            username = auth_session.username
            account = await store.get_account(session, username=username)
            reason = end_reason(auth_session, found, account, identity=identity, now=now)
            if reason is None and account is not None:
                found.used_at = now
                auth_session.last_used_at = now
                token = await store.add_refresh_token(session, sid=auth_session.sid, now=now)
                await trail(session, action=REFRESH, outcome="success", actor=username, status=200)
                return Refreshed(account, auth_session.sid, tuple(auth_session.amr), token)
            if auth_session.revoked_at is None:
                auth_session.revoked_at = now
                auth_session.revoked_reason = reason
            await trail(
                session,
                action=REFRESH_REUSE if found.used_at is not None else REFRESH,
                outcome="failure",
                actor=username,
                status=401,
                reason=f"session {auth_session.sid[:8]} ended: {reason}",
            )
            refusal = Unauthorized(INVALID_REFRESH)
    raise refusal


async def log_out(
    sessions: async_sessionmaker[AsyncSession],
    *,
    identity: Identity,
    trail: Trail,
    refresh_token: str | None = None,
    session_id: str | None = None,
    subject: str | None = None,
) -> None:
    """End the session of `refresh_token`, or session `session_id` of `subject` (the claims of
    a verified access token). One that does not exist or ended already is no error (RFC 7009):
    the caller's wish holds either way."""
    now = identity.clock()
    async with sessions() as session, session.begin():
        auth_session = None
        if refresh_token:
            found = await store.get_refresh_token(session, token=refresh_token)
            if found is not None:
                auth_session = await store.get_session(session, sid=found.sid, for_update=True)
        elif session_id:
            candidate = await store.get_session(session, sid=session_id, for_update=True)
            if candidate is not None and candidate.username == subject:
                auth_session = candidate
        if auth_session is None:
            await trail(
                session,
                action=LOGOUT,
                outcome="failure",
                actor=subject or ANONYMOUS,
                status=204,
                reason="no such session",
            )
            return
        if auth_session.revoked_at is None:
            auth_session.revoked_at = now
            auth_session.revoked_reason = LOGGED_OUT
        await trail(
            session,
            action=LOGOUT,
            outcome="success",
            actor=auth_session.username,
            status=204,
            reason=f"session {auth_session.sid[:8]}",
        )


async def prune(sessions: async_sessionmaker[AsyncSession], *, identity: Identity) -> int:
    """Housekeeping: forget sessions that ended more than a day ago."""
    before = identity.clock() - timedelta(days=1)
    async with sessions() as session, session.begin():
        return await store.prune_sessions(
            session, before=before, idle_s=identity.auth.session_idle_s
        )


# The second factor ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str
    uri: str


async def start_totp_enrolment(
    sessions: async_sessionmaker[AsyncSession],
    *,
    identity: Identity,
    trail: Trail,
    username: str,
    amr: tuple[str, ...],
) -> Enrolment:
    """A new TOTP secret for `username`, pending until a code of it is confirmed. An account
    that has a factor replaces it only from a login that used it (`amr` holds "otp")."""
    async with sessions() as session, session.begin():
        account = await store.get_account(session, username=username, for_update=True)
        if account is None or account.disabled:
            raise Unauthorized("The token names no account.")
        if account.totp_secret is not None and "otp" not in amr:
            await trail(
                session,
                action=TOTP_ENROLMENT,
                outcome="denied",
                actor=username,
                status=403,
                reason="a factor is replaced from a login that used it",
            )
            refusal: AppError = Forbidden(
                "This account has a second factor: replace it from a login with its code, or "
                "ask an administrator to remove it."
            )
        else:
            secret = totp.new_secret()
            account.totp_pending_secret = secret
            await trail(
                session,
                action=TOTP_ENROLMENT,
                outcome="success",
                actor=username,
                status=200,
                reason="started",
            )
            uri = totp.provisioning_uri(secret, username=username, issuer=identity.auth.issuer)
            return Enrolment(secret, uri)
    raise refusal


async def confirm_totp_enrolment(
    sessions: async_sessionmaker[AsyncSession],
    *,
    identity: Identity,
    trail: Trail,
    username: str,
    code: str,
) -> None:
    """The first code of the pending secret makes it the account's second factor."""
    async with sessions() as session, session.begin():
        account = await store.get_account(session, username=username, for_update=True)
        if account is None or account.disabled:
            raise Unauthorized("The token names no account.")
        pending = account.totp_pending_secret
        step = (
            totp.matching_step(pending, code, at=identity.clock(), last_step=None)
            if pending
            else None
        )
        if pending is None:
            refusal: AppError = InvalidState(
                "No enrolment is under way: start one with POST /api/v1/auth/totp."
            )
        elif step is None:
            await trail(
                session,
                action=TOTP_ENROLMENT,
                outcome="failure",
                actor=username,
                status=422,
                reason="wrong one-time code",
            )
            refusal = Invalid("Wrong one-time code.", field="code")
        else:
            account.totp_secret = pending
            account.totp_pending_secret = None
            account.totp_confirmed_at = identity.clock()
            account.totp_last_step = step
            await trail(
                session,
                action=TOTP_ENROLMENT,
                outcome="success",
                actor=username,
                status=204,
                reason="confirmed",
            )
            return
    raise refusal


async def remove_totp(
    session: AsyncSession,
    *,
    username: str,
    caller_scope: Scope,
    audit: AuditContext | None = None,
) -> Account:
    """An administrator removes an account's second factor (its phone is lost): its sessions
    end, and an administrator's account must enrol again at its next login."""
    account = await get_account_or_raise(
        session, username=username, scope=caller_scope, for_update=True
    )
    before = snapshot(account) | {"totp": account.totp_secret is not None}
    account.totp_secret = None
    account.totp_pending_secret = None
    account.totp_confirmed_at = None
    account.totp_last_step = None
    account.session_epoch += 1
    await stage_if_changed(session, account)
    await session.flush()
    if audit is not None:
        audit.changed(before, snapshot(account) | {"totp": False})
    return account


# External issuers ----------------------------------------------------------------------------


async def external_principal(
    sessions: async_sessionmaker[AsyncSession],
    *,
    identity: Identity,
    username: str,
    claims: Mapping[str, Any],
    trusted: TrustedIssuer,
) -> Principal:
    """The caller behind a verified token of a trusted external issuer: a local account, whose
    roles and scope apply (the token's roles only with `roles_claim`, and only known ones)."""
    async with sessions() as session:
        account = await store.get_account(session, username=username)
    if account is None or account.disabled:
        raise Unauthorized("The token's subject has no account here.")
    roles: tuple[str, ...] = tuple(account.roles)
    if trusted.roles_claim is not None:
        claimed = claims.get(trusted.roles_claim)
        listed = claimed if isinstance(claimed, list) else []
        roles = tuple(dict.fromkeys(r for r in listed if isinstance(r, str) and r in ROLES))
    enforced = identity.auth.require_totp_for_admins is not False
    factors = claims.get("amr")
    two = isinstance(factors, list) and bool(SECOND_FACTORS & set(map(str, factors)))
    if enforced and totp.is_administrator(roles) and not two:
        raise Unauthorized("An administrator's token must come from a login with two factors.")
    jti = claims.get("jti")
    return Principal(
        subject=account.username,
        roles=roles,
        scope=account.org_scope,
        token_id=jti if isinstance(jti, str) else None,
    )
