"""Bearer-token authentication and authorization: JWTs verified on every endpoint but health
and metrics, and one permission (`riskwatch.common.access`) required by every route.

`require(Permission.X)` gives a route the caller, with the permissions of its roles and its org
scope, or answers 403 (recorded in the audit trail). Tokens come from the built-in issuer
(`riskwatch.common.identity`) in embedded mode and for local distributed runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from riskwatch.common.access import DISTRICT, Permission, Scope, permissions_of
from riskwatch.common.audit import emit as audit
from riskwatch.common.errors import Forbidden, Unauthorized
from riskwatch.common.settings import AuthSettings

TOKEN_PATH = "/api/v1/auth/token"  # noqa: S105 - a URL path, not a secret

_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_PATH, auto_error=False)


_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    roles: tuple[str, ...] = ()
    scope: Scope = DISTRICT
    token_id: str | None = None
    permissions: frozenset[Permission] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        object.__setattr__(self, "permissions", permissions_of(self.roles))


class TokenService:
    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings

    def issue(
        self,
        subject: str,
        *,
        roles: tuple[str, ...] = (),
        scope: Scope = DISTRICT,
        version: int = 0,
    ) -> tuple[str, int]:
        """A token for `subject`; `version` is its account's session epoch (claim `ver`), which
        the issuer compares to refuse tokens older than a password change or a disabling."""
        now = datetime.now(UTC)
        ttl = self._settings.token_ttl_seconds
        claims: dict[str, Any] = {
            "iss": self._settings.issuer,
            "aud": self._settings.audience,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + timedelta(seconds=ttl),
            "jti": str(uuid.uuid4()),
            "roles": list(roles),
            "org": str(scope),
            "ver": version,
        }
        token = jwt.encode(
            claims,
            self._settings.jwt_secret.get_secret_value(),
            algorithm=self._settings.jwt_algorithm,
        )
        return token, ttl

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._settings.jwt_secret.get_secret_value(),
                algorithms=[self._settings.jwt_algorithm],
                audience=self._settings.audience,
                issuer=self._settings.issuer,
                options={"require": ["exp", "sub", "iss", "aud"]},
                leeway=30,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The token has expired.") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("The token is not valid.") from exc
        try:
            scope = Scope.parse(str(claims.get("org") or ""))
        except ValueError as exc:
            raise Unauthorized("The token names no organisation scope.") from exc
        roles = claims.get("roles") or []
        if not isinstance(roles, list):
            raise Unauthorized("The token is not valid.")
        return Principal(
            subject=str(claims["sub"]),
            roles=tuple(str(r) for r in roles),
            scope=scope,
            token_id=claims.get("jti"),
        )


async def current_principal(
    request: Request, token: Annotated[str | None, Depends(_bearer)]
) -> Principal:
    if not token:
        raise Unauthorized("A bearer token is required.")
    tokens: TokenService = request.app.state.tokens
    principal = tokens.verify(token)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(
    permission: Permission, *, audited: bool = True
) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """The dependency every route declares: the caller, if one of its roles grants
    `permission`; else 403, recorded in the audit trail. On a write (any method but GET, HEAD
    and OPTIONS) it also opens the request's audit context, which the write's transaction
    stages as a record (`deps.session_in_transaction`). `audited=False` only for telemetry
    (reading batches), whose raw store is its own record."""

    async def check(request: Request, principal: PrincipalDep) -> Principal:
        route = request.scope.get("route")
        endpoint = getattr(route, "name", None) or "unknown"
        resource = request.url.path.removeprefix("/api/v1/")
        request.state.audit = None  # the refusal below is recorded once, here
        if permission not in principal.permissions:
            await audit.deny(request, principal, reason=f"{endpoint} needs {permission.value}")
            raise Forbidden(f"This needs the permission {permission.value}.")
        # Set on every request, never left over: a test transport may share `state` between
        # requests (the ASGI spec asks servers for a copy per request; not every one makes it).
        request.state.audit = (
            audit.AuditContext(action=endpoint, resource=resource)
            if audited and request.method not in _READ_METHODS
            else None
        )
        return principal

    check.permission = permission  # type: ignore[attr-defined]  # read by the route audit test
    return check
