"""HTTP API of the built-in issuer: the OAuth2 password flow, password changes, the caller's
own account, and the accounts that administrators manage.

Three routes need no permission: POST /api/v1/auth/token and POST /api/v1/auth/password take
no token (a first login that must change its password gets none), and GET /api/v1/auth/me only
needs a valid one (`authenticated`). Every other route declares `require(Permission.X)`.
"""

from __future__ import annotations

from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import ROLES, Permission, permissions_of
from riskwatch.common.audit import emit
from riskwatch.common.auth import TOKEN_PATH, Principal, PrincipalDep, TokenService, require
from riskwatch.common.deps import AuditDep, CatalogDep, ReadSessionDep, SessionDep
from riskwatch.common.errors import Unauthorized, problem_responses
from riskwatch.common.events.audit import AuditOutcome
from riskwatch.common.identity import service
from riskwatch.common.identity.models import SCHEMA, Account, outbox
from riskwatch.common.identity.schemas import (
    AccountCreate,
    AccountPage,
    AccountRead,
    AccountStatus,
    AccountUpdate,
    MeRead,
    PasswordChange,
    PasswordReset,
    RoleRead,
    TokenRead,
)
from riskwatch.common.identity.service import Identity, Trail
from riskwatch.common.inputs import Key
from riskwatch.common.pagination import DEFAULT_LIMIT, MAX_LIMIT

IDENTITY_KEY = "riskwatch.identity"
PASSWORD_PATH = "/api/v1/auth/password"  # noqa: S105 - a URL path, not a secret
ME_PATH = "/api/v1/auth/me"


def identity_of(request: Request) -> Identity:
    """The issuer's parts in this process, set up by `IdentityModule.components`."""
    found = request.app.state.runtime.extras.get(IDENTITY_KEY)
    if not isinstance(found, Identity):
        raise RuntimeError("the identity module is not hosted by this app")
    return found


IdentityDep = Annotated[Identity, Depends(identity_of)]


def trail_of(request: Request, identity: IdentityDep) -> Trail:
    """Audit records of logins and password changes, staged in identity's outbox."""

    async def add(
        session: AsyncSession,
        *,
        action: str,
        outcome: AuditOutcome,
        actor: str,
        status: int,
        reason: str | None = None,
    ) -> None:
        entry = emit.record(
            service=SCHEMA,
            action=action,
            outcome=outcome,
            actor=actor,
            request=request,
            resource=request.url.path.removeprefix("/api/v1/"),
            status=status,
            reason=reason,
            now=identity.clock(),
        )
        await emit.stage(session, outbox, entry)

    return add


TrailDep = Annotated[Trail, Depends(trail_of)]


def _token_version(request: Request) -> int:
    _, _, token = request.headers.get("authorization", "").partition(" ")
    # Its signature, issuer and expiry were verified by `current_principal` in this request.
    claims: dict[str, Any] = jwt.decode(token.strip(), options={"verify_signature": False})
    version = claims.get("ver", 0)
    return version if isinstance(version, int) else -1


async def _live_account(request: Request, principal: Principal) -> Account | None:
    async with request.app.state.sessions() as session:
        return await service.check_session(
            session, username=principal.subject, version=_token_version(request)
        )


async def authenticated(request: Request, principal: PrincipalDep) -> Account:
    """The one dependency that asks for nothing but a valid token of a live account: the
    caller's own account (GET /api/v1/auth/me)."""
    account = await _live_account(request, principal)
    if account is None:
        raise Unauthorized("The token names no account.")
    return account


async def not_revoked(request: Request, principal: PrincipalDep) -> None:
    """Refuse the token of a disabled account, or one older than its last password change or
    change of roles or scope (the issuer knows; other services trust the token until it ends).
    A token minted by this process for a subject with no account passes."""
    await _live_account(request, principal)


auth_router = APIRouter(tags=["auth"])


@auth_router.post(
    TOKEN_PATH,
    response_model=TokenRead,
    responses=problem_responses(
        401,
        403,
        429,
        descriptions={
            401: "Wrong username or password (also for an unknown or disabled account)",
            403: "password-change-required: an administrator set this password; change it "
            "with POST /api/v1/auth/password first",
            429: "Too many failed logins for this account or address; retry after "
            "Retry-After seconds",
        },
    ),
)
async def issue_token(
    request: Request,
    identity: IdentityDep,
    trail: TrailDep,
    # The fields of OAuth2PasswordRequestForm that the issuer reads, with a username that can
    # name an account (one line, at most the column's 64 characters): anything else would
    # reach the account lookup and fail there. Scope and client fields are ignored.
    username: Annotated[Key, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256, json_schema_extra={"format": "password"})],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> TokenRead:
    account = await service.log_in(
        request.app.state.sessions,
        identity=identity,
        trail=trail,
        username=username,
        password=password,
        source=emit.client_address(request),
    )
    tokens: TokenService = request.app.state.tokens
    token, ttl = tokens.issue(
        account.username,
        roles=tuple(account.roles),
        scope=account.org_scope,
        version=account.session_epoch,
    )
    return TokenRead(access_token=token, expires_in=ttl)


@auth_router.post(
    PASSWORD_PATH,
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(
        401,
        409,
        429,
        descriptions={
            401: "Wrong username or current password",
            409: "The password was changed by another request meanwhile",
            422: "The new password does not follow the password policy (`errors` says why)",
        },
    ),
)
async def change_password(
    request: Request, body: PasswordChange, identity: IdentityDep, trail: TrailDep
) -> None:
    """Change your password, proving the current one: no token needed, so that an account
    whose administrator set its password can choose its own before its first login. The
    account's older tokens end."""
    await service.change_password(
        request.app.state.sessions,
        identity=identity,
        trail=trail,
        username=body.username,
        current_password=body.current_password,
        new_password=body.new_password,
        source=emit.client_address(request),
    )


@auth_router.get(ME_PATH, response_model=MeRead)
async def read_me(account: Annotated[Account, Depends(authenticated)]) -> MeRead:
    """The caller's account: roles, org scope and the permissions they grant."""
    return MeRead(
        username=account.username,
        display_name=account.display_name,
        phone=account.phone,
        roles=list(account.roles),
        scope=account.scope,
        permissions=sorted(p.value for p in permissions_of(account.roles)),
        password_changed_at=account.password_changed_at,
    )


accounts_router = APIRouter(
    prefix="/api/v1/accounts",
    tags=["accounts"],
    dependencies=[Depends(not_revoked)],
    responses=problem_responses(422),
)

Reader = Annotated[Principal, Depends(require(Permission.ACCOUNTS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.ACCOUNTS_WRITE))]
UsernamePath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f-\x9f/]*$")
]


@accounts_router.get("", response_model=AccountPage)
async def list_accounts(
    session: ReadSessionDep,
    caller: Reader,
    role: Key | None = None,
    scope: Annotated[
        Key | None, Query(description='Exactly this scope: "district", "town:<id>"...')
    ] = None,
    account_status: Annotated[AccountStatus | None, Query(alias="status")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> AccountPage:
    """Accounts inside your scope (a sector's administrator sees that sector's), newest
    first."""
    items, next_cursor = await service.list_accounts(
        session,
        caller_scope=caller.scope,
        role=role,
        scope=scope,
        status=account_status,
        cursor=cursor,
        limit=limit,
    )
    return AccountPage(
        items=[AccountRead.model_validate(a) for a in items], next_cursor=next_cursor
    )


@accounts_router.post(
    "",
    response_model=AccountRead,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(
        403, 409, descriptions={403: "The scope is wider than yours", 409: "The username exists"}
    ),
)
async def create_account(
    body: AccountCreate,
    session: SessionDep,
    caller: Writer,
    audit: AuditDep,
    catalog: CatalogDep,
    identity: IdentityDep,
) -> AccountRead:
    """Open an account. Its owner must change the password at the first login."""
    account = await service.create_account(
        session,
        identity=identity,
        catalog=catalog,
        data=body,
        created_by=caller.subject,
        caller_scope=caller.scope,
        audit=audit,
    )
    return AccountRead.model_validate(account)


@accounts_router.get("/{username}", response_model=AccountRead)
async def get_account(
    username: UsernamePath, session: ReadSessionDep, caller: Reader
) -> AccountRead:
    return AccountRead.model_validate(
        await service.get_account_or_raise(session, username=username, scope=caller.scope)
    )


@accounts_router.patch(
    "/{username}",
    response_model=AccountRead,
    responses=problem_responses(403, descriptions={403: "The scope is wider than yours"}),
)
async def update_account(
    username: UsernamePath,
    body: AccountUpdate,
    session: SessionDep,
    caller: Writer,
    audit: AuditDep,
    catalog: CatalogDep,
) -> AccountRead:
    """Change display name, phone, roles, scope or `disabled`. Roles, scope and disabling end
    the account's tokens."""
    account = await service.update_account(
        session,
        catalog=catalog,
        username=username,
        data=body,
        caller_scope=caller.scope,
        audit=audit,
    )
    return AccountRead.model_validate(account)


@accounts_router.post("/{username}/password", response_model=AccountRead)
async def reset_password(
    username: UsernamePath,
    body: PasswordReset,
    session: SessionDep,
    caller: Writer,
    audit: AuditDep,
    identity: IdentityDep,
) -> AccountRead:
    """Set a new password for an account (it forgot its own, or is locked out): its tokens
    end, the lockout lifts, and its owner must change the password at the next login."""
    account = await service.reset_password(
        session,
        identity=identity,
        username=username,
        password=body.password,
        caller_scope=caller.scope,
        audit=audit,
    )
    return AccountRead.model_validate(account)


roles_router = APIRouter(prefix="/api/v1/roles", tags=["accounts"])


@roles_router.get("", response_model=list[RoleRead])
async def list_roles(
    caller: Annotated[Principal, Depends(require(Permission.ROLES_READ))],
) -> list[RoleRead]:
    """The roles accounts may be given (`roles` of an account), with their labels and the
    permissions each grants."""
    return [
        RoleRead(
            id=info.id,
            label_zh=info.label_zh,
            label_en=info.label_en,
            permissions=sorted(p.value for p in info.permissions),
            administrator=info.administrator,
        )
        for info in ROLES.values()
    ]


routers = [auth_router, accounts_router, roles_router]
