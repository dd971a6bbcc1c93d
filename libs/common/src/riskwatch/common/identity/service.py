"""Use cases of the built-in issuer: accounts, logins with lockout, password changes, seeding.

Account writes take the caller's session (the request owns the transaction). Logins and
password changes open their own transactions: a refusal is an answer, not a failure, and its
failure count and audit record are committed together before it is answered.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.access import DISTRICT, Role, Scope
from riskwatch.common.audit.emit import AuditContext
from riskwatch.common.catalog import Catalog, default_catalog
from riskwatch.common.errors import (
    AppError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from riskwatch.common.events.audit import AuditOutcome
from riskwatch.common.identity import store, totp
from riskwatch.common.identity.models import Account
from riskwatch.common.identity.passwords import PasswordHashing, shared_hashing
from riskwatch.common.identity.policy import PasswordPolicy, generate_password
from riskwatch.common.identity.publication import stage_if_changed
from riskwatch.common.identity.schemas import AccountCreate, AccountStatus, AccountUpdate
from riskwatch.common.settings import AuthSettings

log = structlog.get_logger(__name__)

ADMIN = "admin"
WRONG_CREDENTIALS = "Wrong username or password."
LOGIN = "auth.login"
LOCKOUT = "auth.lockout"
PASSWORD_CHANGE = "auth.password_change"  # noqa: S105 - an audit action, not a secret
_LEGACY_ADMIN_ROLE = "admin"  # the one role of the first issuer, before access.ROLES


class LoginLocked(TooManyRequests):
    code = "login-locked"
    title = "Too many failed logins"


class PasswordChangeRequired(Forbidden):
    code = "password-change-required"
    title = "Password change required"


OTP = "auth.otp"


class OtpRequired(Unauthorized):
    code = "otp-required"
    title = "One-time code required"


class OtpInvalid(Unauthorized):
    code = "otp-invalid"
    title = "Wrong one-time code"


class TotpEnrolmentRequired(Forbidden):
    """The answer carries a short token that enrols a second factor and does nothing else
    (the router adds it); `username` and `session_epoch` name the account it is for."""

    code = "totp-enrolment-required"
    title = "Second factor enrolment required"

    def __init__(self, detail: str, *, username: str, session_epoch: int, **extensions: Any):
        super().__init__(detail, **extensions)
        self.username = username
        self.session_epoch = session_epoch


@dataclass(frozen=True, slots=True)
class Login:
    """A successful login: the account, how it proved itself (`amr`), and the session opened
    with its first refresh token (the only time that token exists in clear)."""

    account: Account
    amr: tuple[str, ...]
    session_id: str
    refresh_token: str


@dataclass(frozen=True, slots=True)
class Identity:
    """The issuer's parts in one process: its settings, the argon2 pool, the clock."""

    auth: AuthSettings
    hashing: PasswordHashing
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    @property
    def policy(self) -> PasswordPolicy:
        return PasswordPolicy(min_length=self.auth.password_min_length)


class Trail(Protocol):
    """Stages one audit record of a login or password change in `session`'s transaction."""

    async def __call__(
        self,
        session: AsyncSession,
        *,
        action: str,
        outcome: AuditOutcome,
        actor: str,
        status: int,
        reason: str | None = None,
    ) -> None: ...


# Scopes --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Placement:
    sector_id: str | None = None
    town_id: str | None = None
    village_id: str | None = None


def place(scope: Scope, *, catalog: Catalog) -> Placement:
    """Where `scope` sits in the catalog; an id the catalog does not know is a 422."""
    match scope.kind:
        case "district":
            return Placement()
        case "sector":
            if scope.id is None or catalog.sector(scope.id) is None:
                raise Invalid(f"Unknown sector {scope.id!r}.", field="scope")
            return Placement(sector_id=scope.id)
        case "town":
            if scope.id is None or catalog.town(scope.id) is None:
                raise Invalid(f"Unknown town {scope.id!r}.", field="scope")
            return Placement(town_id=scope.id)
        case "village":
            village = catalog.village(scope.id) if scope.id else None
            if village is None:
                raise Invalid(f"Unknown village {scope.id!r}.", field="scope")
            return Placement(town_id=village.town_id, village_id=village.id)


def covers(outer: Scope, inner: Scope, *, catalog: Catalog) -> bool:
    """Whether `inner` lies within `outer`: an administrator grants no scope wider than its
    own (a town's administrator may grant its town or one of its villages)."""
    if outer.is_district or outer == inner:
        return True
    if outer.kind == "town" and inner.kind == "village" and inner.id is not None:
        village = catalog.village(inner.id)
        return village is not None and village.town_id == outer.id
    return False


def _grant(caller_scope: Scope, scope: Scope, *, catalog: Catalog) -> Placement:
    placement = place(scope, catalog=catalog)
    if not covers(caller_scope, scope, catalog=catalog):
        raise Forbidden(
            f"The scope {scope} is wider than your own ({caller_scope}); you cannot grant it."
        )
    return placement


def _apply_scope(account: Account, scope: Scope, placement: Placement) -> None:
    account.scope = str(scope)
    account.sector_id = placement.sector_id
    account.town_id = placement.town_id
    account.village_id = placement.village_id


def snapshot(account: Account) -> dict[str, Any]:
    """What an account change is digested from for the trail (never the hash)."""
    return {
        "username": account.username,
        "display_name": account.display_name,
        "phone": account.phone,
        "roles": list(account.roles),
        "scope": account.scope,
        "disabled": account.disabled,
    }


def _check_policy(identity: Identity, password: str, *, username: str, field: str) -> None:
    violations = identity.policy.check(password, username=username)
    if violations:
        raise Invalid(
            "The password does not follow the password policy: "
            + " ".join(v.message for v in violations),
            field=field,
            errors=[{"code": v.code, "msg": v.message} for v in violations],
        )


# Accounts ------------------------------------------------------------------------------------


async def get_account_or_raise(
    session: AsyncSession, *, username: str, scope: Scope, for_update: bool = False
) -> Account:
    """The account, if inside `scope`; one outside it is not found, as if it did not exist."""
    account = await store.get_account(
        session, username=username, scope=scope, for_update=for_update
    )
    if account is None:
        raise NotFound(f"No account {username!r}.")
    return account


async def list_accounts(
    session: AsyncSession,
    *,
    caller_scope: Scope,
    role: str | None = None,
    scope: str | None = None,
    status: AccountStatus | None = None,
    cursor: str | None = None,
    limit: int,
) -> tuple[list[Account], str | None]:
    """A page of the accounts inside `caller_scope`, filtered by role, exact scope, status."""
    exact = None
    if scope is not None:
        try:
            exact = Scope.parse(scope)
        except ValueError as exc:
            raise Invalid(str(exc), field="scope") from exc
    return await store.list_accounts(
        session,
        visible=caller_scope,
        role=role,
        scope=exact,
        disabled=None if status is None else status == "disabled",
        cursor=cursor,
        limit=limit,
    )


async def create_account(
    session: AsyncSession,
    *,
    identity: Identity,
    catalog: Catalog,
    data: AccountCreate,
    created_by: str,
    caller_scope: Scope,
    audit: AuditContext | None = None,
) -> Account:
    """An account an administrator opens: its owner changes the password at the first login."""
    scope = Scope.parse(data.scope)
    placement = _grant(caller_scope, scope, catalog=catalog)
    _check_policy(identity, data.password, username=data.username, field="password")
    if await session.get(Account, data.username) is not None:
        raise Conflict(f"The account {data.username!r} exists.")
    account = Account(
        username=data.username,
        password_hash=await identity.hashing.hash(data.password),
        display_name=data.display_name,
        phone=data.phone,
        roles=list(data.roles),
        disabled=False,
        must_change_password=True,
        session_epoch=0,
        created_by=created_by,
    )
    _apply_scope(account, scope, placement)
    session.add(account)
    try:
        await session.flush()
    except IntegrityError as exc:  # created by a concurrent request since the check above
        raise Conflict(f"The account {data.username!r} exists.") from exc
    await stage_if_changed(session, account)
    if audit is not None:
        audit.changed(None, snapshot(account))
    return account


async def update_account(
    session: AsyncSession,
    *,
    catalog: Catalog,
    username: str,
    data: AccountUpdate,
    caller_scope: Scope,
    caller: str | None = None,
    audit: AuditContext | None = None,
) -> Account:
    """Change what `data` sets; roles, scope and disabling end the account's sessions. Nobody
    changes their own roles, scope or `disabled`: another administrator does."""
    if username == caller and {"roles", "scope", "disabled"} & data.model_fields_set:
        raise Forbidden("You cannot change your own roles, scope or disabled state.")
    account = await get_account_or_raise(
        session, username=username, scope=caller_scope, for_update=True
    )
    before = snapshot(account)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("display_name", "") is None:
        raise Invalid("An account's display name cannot be removed.", field="display_name")
    for name in ("roles", "scope", "disabled"):
        if name in changes and changes[name] is None:
            raise Invalid(f"{name} cannot be null.", field=name)
    revoke = False
    if "scope" in changes and changes["scope"] != account.scope:
        scope = Scope.parse(changes["scope"])
        _apply_scope(account, scope, _grant(caller_scope, scope, catalog=catalog))
        revoke = True
    if "roles" in changes and list(changes["roles"]) != list(account.roles):
        account.roles = list(changes["roles"])
        revoke = True
    if "disabled" in changes and changes["disabled"] != account.disabled:
        account.disabled = changes["disabled"]
        revoke = True
    if "display_name" in changes:
        account.display_name = changes["display_name"]
    if "phone" in changes:
        account.phone = changes["phone"]
    if revoke:
        account.session_epoch += 1
    await stage_if_changed(session, account)
    await session.flush()
    if audit is not None:
        audit.changed(before, snapshot(account))
    return account


async def reset_password(
    session: AsyncSession,
    *,
    identity: Identity,
    username: str,
    password: str,
    caller_scope: Scope,
    caller: str | None = None,
    audit: AuditContext | None = None,
) -> Account:
    """An administrator sets a new password: the account's tokens end, its lockout lifts, and
    its owner must choose another one at the next login. Not one's own: that is
    POST /api/v1/auth/password, which asks for the current one."""
    if username == caller:
        raise Forbidden("Change your own password with POST /api/v1/auth/password.")
    account = await get_account_or_raise(
        session, username=username, scope=caller_scope, for_update=True
    )
    _check_policy(identity, password, username=username, field="password")
    before = snapshot(account) | {"session_epoch": account.session_epoch}
    account.password_hash = await identity.hashing.hash(password)
    account.must_change_password = True
    account.session_epoch += 1
    account.password_changed_at = identity.clock()
    await store.clear_failures(session, username=username)
    await stage_if_changed(session, account)
    await session.flush()
    if audit is not None:
        audit.changed(before, snapshot(account) | {"session_epoch": account.session_epoch})
    return account


# Logins --------------------------------------------------------------------------------------


async def _refuse_if_locked(
    sessions: async_sessionmaker[AsyncSession],
    *,
    identity: Identity,
    trail: Trail,
    username: str,
    source: str | None,
    action: str,
) -> Account | None:
    """The account (None if unknown), unless the username or the address is locked out:
    then the refusal is recorded and answered 429, without even looking at the password."""
    auth = identity.auth
    async with sessions() as session:
        lock = await store.current_lock(
            session,
            username=username,
            source=source,
            now=identity.clock(),
            max_failures=auth.login_max_failures,
            window_s=auth.login_window_s,
        )
        account = None if lock else await session.get(Account, username)
    if lock is None:
        return account
    async with sessions() as session, session.begin():
        await trail(
            session,
            action=action,
            outcome="denied",
            actor=username,
            status=429,
            reason=f"locked out ({lock.kind})",
        )
    raise LoginLocked(
        f"Too many failed logins; try again in {lock.retry_after_s} seconds.",
        retry_after_s=lock.retry_after_s,
    )


async def _record_failure(
    session: AsyncSession,
    *,
    identity: Identity,
    trail: Trail,
    username: str,
    source: str | None,
    action: str,
    reason: str,
) -> None:
    """Count a failure and record it; the failure that reaches the limit records the lockout
    as well, in the same transaction, so the trail and the lock always agree."""
    auth = identity.auth
    now = identity.clock()
    await store.add_failure(
        session, username=username, source=source, now=now, window_s=auth.login_window_s
    )
    await trail(
        session, action=action, outcome="failure", actor=username, status=401, reason=reason
    )
    lock = await store.current_lock(
        session,
        username=username,
        source=source,
        now=now,
        max_failures=auth.login_max_failures,
        window_s=auth.login_window_s,
    )
    if lock is not None:
        await trail(
            session,
            action=LOCKOUT,
            outcome="failure",
            actor=username,
            status=401,
            reason=f"{auth.login_max_failures} failed logins within {auth.login_window_s} s "
            f"({lock.kind}); locked for {lock.retry_after_s} s",
        )


def _failure_reason(account: Account | None, *, matches: bool) -> str:
    # For the trail only: the client gets one message for all three.
    if account is None:
        return "unknown account"
    return "wrong password" if not matches else "account disabled"


async def log_in(
    sessions: async_sessionmaker[AsyncSession],
    *,
    identity: Identity,
    trail: Trail,
    username: str,
    password: str,
    source: str | None,
    otp: str | None = None,
) -> Login:
    """The account that `password` opens, with a new session, or a refusal: 429 while locked
    out (even with the right password), 401 for a wrong password, an unknown or a disabled
    account (one message for all three), 403 `password-change-required` while an
    administrator's password stands; then the second factor (`_second_factor`).
    """
    account = await _refuse_if_locked(
        sessions, identity=identity, trail=trail, username=username, source=source, action=LOGIN
    )
    matches = await identity.hashing.verify(account.password_hash if account else None, password)
    async with sessions() as session, session.begin():
        if account is None or not matches or account.disabled:
            await _record_failure(
                session,
                identity=identity,
                trail=trail,
                username=username,
                source=source,
                action=LOGIN,
                reason=_failure_reason(account, matches=matches),
            )
            refusal: Exception = Unauthorized(WRONG_CREDENTIALS)
        elif account.must_change_password:
            await store.clear_failures(session, username=username)
            await trail(
                session,
                action=LOGIN,
                outcome="denied",
                actor=username,
                status=403,
                reason=PasswordChangeRequired.code,
            )
            refusal = PasswordChangeRequired(
                "This account's password was set by an administrator: choose your own with "
                "POST /api/v1/auth/password (username, current_password, new_password), then "
                "log in with it.",
                change_password="/api/v1/auth/password",  # noqa: S106 - a URL path
            )
        else:
            factor = await _second_factor(
                session, identity=identity, trail=trail, account=account, otp=otp, source=source
            )
            if isinstance(factor, AppError):
                refusal = factor
            else:
                await store.clear_failures(session, username=username)
                await trail(session, action=LOGIN, outcome="success", actor=username, status=200)
                session_id, refresh_token = await store.open_session(
                    session,
                    account=account,
                    amr=factor,
                    now=identity.clock(),
                    max_s=identity.auth.session_max_s,
                )
                return Login(account, factor, session_id, refresh_token)
    raise refusal


def totp_required(identity: Identity, account: Account) -> bool:
    """Whether logging in as `account` takes a one-time code: once it has a second factor,
    always; an administrator's, where RW_AUTH__REQUIRE_TOTP_FOR_ADMINS holds."""
    if account.totp_secret is not None:
        return True
    enforced = identity.auth.require_totp_for_admins is not False
    return enforced and totp.is_administrator(account.roles)


async def _second_factor(
    session: AsyncSession,
    *,
    identity: Identity,
    trail: Trail,
    account: Account,
    otp: str | None,
    source: str | None,
) -> tuple[str, ...] | AppError:
    """How the account proved itself (`amr`) after its password, or the refusal (recorded):
    403 `totp-enrolment-required` for an administrator without a second factor where one is
    required, 401 `otp-required` without a code, 401 `otp-invalid` for a wrong or spent one,
    which counts towards the lockout like a wrong password."""
    username = account.username
    if not totp_required(identity, account):
        return ("pwd",)
    if account.totp_secret is None:
        await trail(
            session,
            action=OTP,
            outcome="denied",
            actor=username,
            status=403,
            reason=TotpEnrolmentRequired.code,
        )
        return TotpEnrolmentRequired(
            "An administrator logs in with a second factor, and this account has none yet: "
            "enrol one with POST /api/v1/auth/totp and the `enrolment_token` of this answer, "
            "confirm it with POST /api/v1/auth/totp/confirm, then log in with `otp`.",
            username=username,
            session_epoch=account.session_epoch,
            enrol="/api/v1/auth/totp",
        )
    if not otp:
        await trail(
            session, action=OTP, outcome="denied", actor=username, status=401,
            reason=OtpRequired.code,
        )  # fmt: skip
        return OtpRequired(
            "This account logs in with the one-time code of its authenticator app: send it as "
            "`otp` with the username and password."
        )
    # Locked: two logins with one code must not both spend it.
    fresh = await store.get_account(session, username=username, for_update=True)
    step = None
    if fresh is not None and fresh.totp_secret is not None:
        step = totp.matching_step(
            fresh.totp_secret, otp, at=identity.clock(), last_step=fresh.totp_last_step
        )
    if fresh is None or step is None:
        await _record_failure(
            session,
            identity=identity,
            trail=trail,
            username=username,
            source=source,
            action=OTP,
            reason="wrong or spent one-time code",
        )
        return OtpInvalid("Wrong one-time code.")
    fresh.totp_last_step = step
    return ("pwd", "otp")


async def change_password(
    sessions: async_sessionmaker[AsyncSession],
    *,
    identity: Identity,
    trail: Trail,
    username: str,
    current_password: str,
    new_password: str,
    source: str | None,
) -> None:
    """The owner replaces its password, proving the current one (a wrong one counts towards
    the lockout like a failed login): the policy applies, older tokens end."""
    account = await _refuse_if_locked(
        sessions,
        identity=identity,
        trail=trail,
        username=username,
        source=source,
        action=PASSWORD_CHANGE,
    )
    matches = await identity.hashing.verify(
        account.password_hash if account else None, current_password
    )
    if account is None or not matches or account.disabled:
        async with sessions() as session, session.begin():
            await _record_failure(
                session,
                identity=identity,
                trail=trail,
                username=username,
                source=source,
                action=PASSWORD_CHANGE,
                reason=_failure_reason(account, matches=matches),
            )
        raise Unauthorized(WRONG_CREDENTIALS)
    _check_policy(identity, new_password, username=username, field="new_password")
    if new_password == current_password:
        raise Invalid("The new password must differ from the current one.", field="new_password")
    new_hash = await identity.hashing.hash(new_password)
    async with sessions() as session, session.begin():
        fresh = await store.get_account(session, username=username, for_update=True)
        if fresh is None or fresh.password_hash != account.password_hash:
            raise Conflict("The password was changed meanwhile; log in again.")
        fresh.password_hash = new_hash
        fresh.must_change_password = False
        fresh.session_epoch += 1
        fresh.password_changed_at = identity.clock()
        await store.clear_failures(session, username=username)
        await stage_if_changed(session, fresh)
        await trail(session, action=PASSWORD_CHANGE, outcome="success", actor=username, status=204)


async def check_session(
    session: AsyncSession, *, username: str, version: int | None
) -> Account | None:
    """The account behind a token, if its session still stands: a disabled account or a token
    older than the account's last password change, disabling, or change of roles or scope is
    refused. None for a subject with no account here (a token this process minted itself).
    `version` None: a token of an external issuer, which knows no session epoch."""
    account = await store.get_account(session, username=username)
    stale = version is not None and account is not None and account.session_epoch != version
    if account is not None and (account.disabled or stale):
        raise Unauthorized("The token has been revoked; log in again.")
    return account


# Seeding -------------------------------------------------------------------------------------


async def ensure_admin(
    session: AsyncSession, *, password: str | None, hashing: PasswordHashing | None = None
) -> str | None:
    """Make sure `admin` exists as the district's system administrator.

    Creates it if missing; gives an existing one the `system_admin` role (an account of the
    first issuer had the role `admin`) and the district scope; sets its password to the one
    given when it differs (RW_ADMIN_PASSWORD resets it). Returns the generated password when it
    had to make one up (first start, no password configured): the caller shows it once and
    never stores it in clear text.
    """
    hashing = hashing or shared_hashing()
    account = await session.get(Account, ADMIN, with_for_update=True)
    if account is not None:
        roles = [r for r in account.roles if r not in (_LEGACY_ADMIN_ROLE, Role.SYSTEM_ADMIN)]
        wanted_roles = [Role.SYSTEM_ADMIN.value, *roles]
        if account.roles != wanted_roles or account.scope != str(DISTRICT):
            account.roles = wanted_roles
            _apply_scope(account, DISTRICT, Placement())
            account.session_epoch += 1
        if password and not await hashing.verify(account.password_hash, password):
            account.password_hash = await hashing.hash(password)
            account.must_change_password = False
            account.session_epoch += 1
            account.password_changed_at = datetime.now(UTC)
        await stage_if_changed(session, account)
        await session.flush()
        return None
    generated = None
    if not password:
        generated = password = generate_password()
    account = Account(
        username=ADMIN,
        password_hash=await hashing.hash(password),
        display_name="Administrator",
        roles=[Role.SYSTEM_ADMIN.value],
        scope=str(DISTRICT),
        disabled=False,
        must_change_password=False,
        session_epoch=0,
        created_by="seed",
    )
    session.add(account)
    await session.flush()
    await stage_if_changed(session, account)
    await session.flush()
    return generated


async def seed_admin(
    sessions: async_sessionmaker[AsyncSession],
    *,
    password: str | None,
    hashing: PasswordHashing | None = None,
    announce: bool = True,
) -> str | None:
    """Startup of the process hosting the issuer: make sure `admin` can log in. A generated
    password is written to the terminal when `announce` (never to the structured logs, which
    are kept for months) and returned."""
    async with sessions() as session, session.begin():
        generated = await ensure_admin(session, password=password, hashing=hashing)
    if generated and announce:
        sys.stderr.write(
            "\n  RiskWatch admin account created.\n"
            f"  username: admin   password: {generated}\n"
            "  Shown once. Set RW_ADMIN_PASSWORD to choose it (or reset it) on the next start.\n\n"
        )
        sys.stderr.flush()
    return generated


async def seed_accounts(
    sessions: async_sessionmaker[AsyncSession],
    accounts: Sequence[AccountCreate | Mapping[str, Any]],
    *,
    catalog: Catalog | None = None,
    hashing: PasswordHashing | None = None,
) -> list[str]:
    """Create the accounts that are missing (the demo's); never change an existing one, nor
    its password. Returns the usernames created. They log in without a forced change: the
    operator who configured them chose their passwords. A password the policy refuses is
    accepted with a warning (demo data), a bad role or scope is a ValueError."""
    catalog = catalog or default_catalog()
    hashing = hashing or shared_hashing()
    wanted: list[tuple[AccountCreate, Placement]] = []
    for item in accounts:
        try:
            data = item if isinstance(item, AccountCreate) else AccountCreate.model_validate(item)
        except ValidationError as exc:
            raise ValueError(f"seed account {item!r:.80}: {exc.errors()[0]['msg']}") from exc
        try:
            placement = place(Scope.parse(data.scope), catalog=catalog)
        except Invalid as exc:
            raise ValueError(f"seed account {data.username}: {exc.detail}") from exc
        wanted.append((data, placement))
    created: list[str] = []
    async with sessions() as session, session.begin():
        for data, placement in wanted:
            weak = PasswordPolicy().check(data.password, username=data.username)
            if weak:
                log.warning(
                    "weak_seed_password", username=data.username, rules=[v.code for v in weak]
                )
            if await session.get(Account, data.username) is not None:
                continue
            row = {
                "username": data.username,
                "password_hash": await hashing.hash(data.password),
                "display_name": data.display_name,
                "phone": data.phone,
                "roles": list(data.roles),
                "scope": data.scope,
                "sector_id": placement.sector_id,
                "town_id": placement.town_id,
                "village_id": placement.village_id,
                "disabled": False,
                "must_change_password": False,
                "session_epoch": 0,
                "created_by": "seed",
            }
            inserted = await session.scalar(
                insert(Account)
                .values(**row)
                .on_conflict_do_nothing(index_elements=[Account.username])
                .returning(Account.username)
            )
            if inserted is not None:
                created.append(inserted)
                seeded = await session.get(Account, inserted)
                if seeded is not None:
                    await stage_if_changed(session, seeded)
    return created
