"""HTTP API of the built-in issuer: the OAuth2 password flow with refresh tokens, logout,
password changes, the second factor, the caller's own account, the accounts that administrators
manage, and the public keys (GET /.well-known/jwks.json).

These routes need no permission: POST /api/v1/auth/token, /refresh, /logout and /password take
no access token (a first login that must change its password gets none; a refresh token is its
own proof), GET /api/v1/auth/me and POST /api/v1/auth/totp(/confirm) only need a valid one.
Every other route declares `require(Permission.X)`.
"""

from __future__ import annotations

from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import ROLES, Permission, permissions_of
from riskwatch.common.audit import emit
from riskwatch.common.auth import (
    TOKEN_PATH,
    TOTP_ENROLMENT,
    Principal,
    PrincipalDep,
    TokenService,
    require,
)
from riskwatch.common.deps import AuditDep, CatalogDep, ReadSessionDep, SessionDep
from riskwatch.common.errors import Unauthorized, problem_responses
from riskwatch.common.events.audit import AuditOutcome
from riskwatch.common.identity import service, sessions
from riskwatch.common.identity.keys import KeyRing
from riskwatch.common.identity.models import SCHEMA, Account, outbox
from riskwatch.common.identity.schemas import (
    AccountCreate,
    AccountPage,
    AccountRead,
    AccountStatus,
    AccountUpdate,
    JwksRead,
    MeRead,
    PasswordChange,
    PasswordReset,
    RoleRead,
    TokenRead,
    TotpConfirm,
    TotpEnrolmentRead,
)
from riskwatch.common.identity.service import Identity, Trail
from riskwatch.common.inputs import Key
from riskwatch.common.pagination import DEFAULT_LIMIT, MAX_LIMIT

IDENTITY_KEY = "riskwatch.identity"
KEYRING_KEY = "riskwatch.identity.keys"
PASSWORD_PATH = "/api/v1/auth/password"  # noqa: S105 - a URL path, not a secret
ME_PATH = "/api/v1/auth/me"
REFRESH_PATH = "/api/v1/auth/refresh"
LOGOUT_PATH = "/api/v1/auth/logout"
TOTP_PATH = "/api/v1/auth/totp"
JWKS_PATH = "/.well-known/jwks.json"
ENROLMENT_TOKEN_TTL_S = 10 * 60

_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_PATH, auto_error=False)
BearerDep = Annotated[str | None, Depends(_bearer)]  # checked by the route itself


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


def _token_version(request: Request) -> int | None:
    _, _, token = request.headers.get("authorization", "").partition(" ")
    # Its signature, issuer and expiry were verified by `current_principal` in this request.
    claims: dict[str, Any] = jwt.decode(token.strip(), options={"verify_signature": False})
    if claims.get("iss") != request.app.state.tokens.settings.issuer:
        return None  # an external issuer's token: no session epoch
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
            401: "Wrong username or password (also for an unknown or disabled account); "
            "otp-required: this account needs its one-time code (`otp`); otp-invalid: a wrong "
            "or spent code (it counts towards the lockout)",
            403: "password-change-required: an administrator set this password; change it "
            "with POST /api/v1/auth/password first. totp-enrolment-required: an administrator "
            "without a second factor; the answer's `enrolment_token` enrols one "
            "(POST /api/v1/auth/totp)",
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
    otp: Annotated[str | None, Form(max_length=16, description="the one-time code")] = None,
) -> TokenRead:
    """Log in: a short access token and a refresh token (a new session)."""
    tokens: TokenService = request.app.state.tokens
    try:
        login = await service.log_in(
            request.app.state.sessions,
            identity=identity,
            trail=trail,
            username=username,
            password=password,
            source=emit.client_address(request),
            otp=otp,
        )
    except service.TotpEnrolmentRequired as refusal:
        refusal.extensions["enrolment_token"] = await _enrolment_token(tokens, refusal)
        raise
    return await _grant(
        tokens,
        login.account,
        session_id=login.session_id,
        amr=login.amr,
        refresh_token=login.refresh_token,
    )


async def _grant(
    tokens: TokenService,
    account: Account,
    *,
    session_id: str,
    amr: tuple[str, ...],
    refresh_token: str,
) -> TokenRead:
    token, ttl = await tokens.issue(
        account.username,
        roles=tuple(account.roles),
        scope=account.org_scope,
        version=account.session_epoch,
        session_id=session_id,
        amr=amr,
    )
    return TokenRead(access_token=token, expires_in=ttl, refresh_token=refresh_token)


def enrolment_audience(tokens: TokenService) -> str:
    """The audience of a token that enrols a second factor and opens nothing else."""
    return f"{tokens.settings.audience}/{TOTP_ENROLMENT}"


async def _enrolment_token(tokens: TokenService, refusal: service.TotpEnrolmentRequired) -> str:
    token, _ = await tokens.issue(
        refusal.username,
        version=refusal.session_epoch,
        audience=enrolment_audience(tokens),
        ttl_s=ENROLMENT_TOKEN_TTL_S,
    )
    return token


@auth_router.post(
    REFRESH_PATH,
    response_model=TokenRead,
    responses=problem_responses(
        401,
        descriptions={
            401: "The refresh token is unknown, spent (its session then ends: it was copied), "
            "or its session ended (logout, idle, too old, the account changed)"
        },
    ),
)
async def refresh_session(
    request: Request,
    identity: IdentityDep,
    trail: TrailDep,
    refresh_token: Annotated[str, Form(min_length=1, max_length=128)],
    grant_type: Annotated[str | None, Form(pattern="^refresh_token$")] = None,
) -> TokenRead:
    """The session's next access token and refresh token; the refresh token sent is spent.
    Roles and scope are the account's as they are now."""
    refreshed = await sessions.refresh(
        request.app.state.sessions, identity=identity, trail=trail, refresh_token=refresh_token
    )
    return await _grant(
        request.app.state.tokens,
        refreshed.account,
        session_id=refreshed.session_id,
        amr=refreshed.amr,
        refresh_token=refreshed.refresh_token,
    )


@auth_router.post(
    LOGOUT_PATH,
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(
        401, descriptions={401: "Neither a refresh token nor a valid bearer token was sent"}
    ),
)
async def log_out(
    request: Request,
    identity: IdentityDep,
    trail: TrailDep,
    bearer: BearerDep,
    refresh_token: Annotated[str | None, Form(max_length=128)] = None,
) -> None:
    """End a session: the one of `refresh_token`, else the one of the bearer token. Its access
    tokens still open the other services until they expire (RW_AUTH__ACCESS_TOKEN_TTL_S)."""
    if refresh_token:
        await sessions.log_out(
            request.app.state.sessions, identity=identity, trail=trail, refresh_token=refresh_token
        )
        return
    if not bearer:
        raise Unauthorized("Send the refresh token, or the access token as a bearer token.")
    tokens: TokenService = request.app.state.tokens
    claims, trusted = await tokens.verify_claims(bearer)
    session_id = claims.get("sid")
    if trusted is not None or not isinstance(session_id, str):
        raise Unauthorized("This token belongs to no session of this issuer.")
    await sessions.log_out(
        request.app.state.sessions,
        identity=identity,
        trail=trail,
        session_id=session_id,
        subject=str(claims["sub"]),
    )


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


async def totp_holder(request: Request, token: str | None) -> tuple[str, tuple[str, ...]]:
    """The account enrolling a second factor, and how its token was had (`amr`): an access
    token of a live session of this issuer, or the enrolment token of a login that needs one.
    Called in the route, after the body is validated (a malformed body is a 422 first)."""
    if not token:
        raise Unauthorized("A bearer token is required.")
    tokens: TokenService = request.app.state.tokens
    enrolment = enrolment_audience(tokens)
    try:
        audience = jwt.decode(token, options={"verify_signature": False}).get("aud")
    except jwt.PyJWTError as exc:
        raise Unauthorized("The token is not valid.") from exc
    claims, trusted = await tokens.verify_claims(
        token, audience=enrolment if audience == enrolment else None
    )
    version = claims.get("ver")
    if trusted is not None or not isinstance(version, int):
        raise Unauthorized("A second factor is enrolled with a token of this issuer.")
    async with request.app.state.sessions() as session:
        account = await service.check_session(session, username=str(claims["sub"]), version=version)
    if account is None:
        raise Unauthorized("The token names no account.")
    amr = claims.get("amr")
    return account.username, tuple(str(a) for a in amr) if isinstance(amr, list) else ()


@auth_router.post(
    TOTP_PATH,
    response_model=TotpEnrolmentRead,
    responses=problem_responses(
        401,
        403,
        descriptions={403: "The account has a second factor; replace it from a login with it"},
    ),
)
async def start_totp_enrolment(
    request: Request, bearer: BearerDep, identity: IdentityDep, trail: TrailDep
) -> TotpEnrolmentRead:
    """Enrol a second factor (TOTP): the secret for an authenticator app, shown this once; it
    counts from its confirmation with a code (POST /api/v1/auth/totp/confirm)."""
    username, amr = await totp_holder(request, bearer)
    enrolment = await sessions.start_totp_enrolment(
        request.app.state.sessions, identity=identity, trail=trail, username=username, amr=amr
    )
    return TotpEnrolmentRead(secret=enrolment.secret, otpauth_uri=enrolment.uri)


@auth_router.post(
    f"{TOTP_PATH}/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(
        401, 409, descriptions={409: "No enrolment is under way", 422: "A wrong code"}
    ),
)
async def confirm_totp_enrolment(
    request: Request,
    body: TotpConfirm,
    bearer: BearerDep,
    identity: IdentityDep,
    trail: TrailDep,
) -> None:
    """Confirm the enrolment with a code of the app: from now on, logins ask for one."""
    username, _ = await totp_holder(request, bearer)
    await sessions.confirm_totp_enrolment(
        request.app.state.sessions,
        identity=identity,
        trail=trail,
        username=username,
        code=body.code,
    )


def keyring_of(request: Request) -> KeyRing:
    found = request.app.state.runtime.extras.get(KEYRING_KEY)
    if not isinstance(found, KeyRing):
        raise RuntimeError("the identity module is not hosted by this app")
    return found


jwks_router = APIRouter(tags=["auth"])


@jwks_router.get(JWKS_PATH, response_model=JwksRead)
async def read_jwks(
    response: Response, keys: Annotated[KeyRing, Depends(keyring_of)], identity: IdentityDep
) -> JwksRead:
    """The public keys that verify the issuer's tokens (RFC 7517), for services and anyone
    else; cacheable for RW_AUTH__JWKS_CACHE_S."""
    response.headers["Cache-Control"] = f"public, max-age={identity.auth.jwks_cache_s}"
    return JwksRead.model_validate(await keys.jwks())


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
    responses=problem_responses(
        403, descriptions={403: "The scope is wider than yours, or the account is your own"}
    ),
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
        caller=caller.subject,
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
        caller=caller.subject,
        audit=audit,
    )
    return AccountRead.model_validate(account)


@accounts_router.delete("/{username}/totp", response_model=AccountRead)
async def remove_totp(
    username: UsernamePath, session: SessionDep, caller: Writer, audit: AuditDep
) -> AccountRead:
    """Remove an account's second factor (its phone is lost): its sessions end, and it enrols
    again (an administrator's account, at its next login)."""
    account = await sessions.remove_totp(
        session, username=username, caller_scope=caller.scope, audit=audit
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


routers = [auth_router, accounts_router, roles_router, jwks_router]
