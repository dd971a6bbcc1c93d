"""Bearer-token authentication: JWTs verified on every endpoint but health and metrics.

`PrincipalDep` gives a route the caller; `require_scopes()` will narrow it when roles and org
scopes arrive. Tokens come from the built-in issuer (`riskwatch.common.identity`) in embedded
mode and for local distributed runs; an OIDC provider can replace it without touching routes.
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

from riskwatch.common.errors import Forbidden, Unauthorized
from riskwatch.common.settings import AuthSettings

TOKEN_PATH = "/api/v1/auth/token"  # noqa: S105 - a URL path, not a secret

_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_PATH, auto_error=False)


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    roles: tuple[str, ...] = ()
    scopes: frozenset[str] = field(default_factory=frozenset)
    token_id: str | None = None


class TokenService:
    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings

    def issue(
        self, subject: str, *, roles: tuple[str, ...] = (), scopes: tuple[str, ...] = ()
    ) -> tuple[str, int]:
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
            "scope": " ".join(scopes),
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
        return Principal(
            subject=str(claims["sub"]),
            roles=tuple(claims.get("roles") or ()),
            scopes=frozenset(str(claims.get("scope") or "").split()),
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


def require_scopes(*needed: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that admits the caller only with every scope in `needed` (admin: all)."""

    async def check(principal: PrincipalDep) -> Principal:
        if "admin" in principal.roles:
            return principal
        missing = set(needed) - principal.scopes
        if missing:
            raise Forbidden(f"Missing scope(s): {', '.join(sorted(missing))}.")
        return principal

    return check
