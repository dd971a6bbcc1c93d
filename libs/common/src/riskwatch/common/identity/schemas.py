"""API models of the built-in issuer: accounts, tokens, keys, password changes, the second
factor. No answer ever holds a password hash."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from riskwatch.common.access import ROLES, Scope, separation_problem
from riskwatch.common.inputs import Key, Line

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._@-]{1,63}$"
# Digits, spaces, dashes, an optional leading plus: 13800138000, +86 21 5888-0000.
PHONE_PATTERN = r"^\+?[0-9][0-9 -]{4,31}$"
PASSWORD_MAX_LENGTH = 256  # argon2 takes any length; a bound keeps a request's cost bounded
MAX_ROLES = len(ROLES)

AccountStatus = Literal["active", "disabled"]


def _known_roles(roles: list[str]) -> list[str]:
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown role(s): {', '.join(unknown)} (known: {', '.join(ROLES)})")
    problem = separation_problem(roles)
    if problem:
        raise ValueError(problem)
    return list(dict.fromkeys(roles))  # in the order given, once each


def _scope_text(value: str) -> str:
    return str(Scope.parse(value))


Username = Annotated[str, Field(pattern=USERNAME_PATTERN, examples=["huamu-handler-01"])]
RoleList = Annotated[
    list[str],
    Field(min_length=1, max_length=MAX_ROLES, examples=[["handler"]]),
    AfterValidator(_known_roles),
]
ScopeText = Annotated[
    str,
    Field(
        max_length=80,
        description='"district", "sector:<id>", "town:<id>" or "village:<id>"',
        examples=["town:huamu"],
    ),
    AfterValidator(_scope_text),
]
Phone = Annotated[str, Field(pattern=PHONE_PATTERN, examples=["13800138000"])]
DisplayName = Annotated[Line, Field(min_length=1, max_length=128)]
# One line: a control character in a password is a typing accident (or an attack), never a
# secret worth keeping; it is refused like any other hostile text.
Password = Annotated[
    Line,
    Field(min_length=1, max_length=PASSWORD_MAX_LENGTH, json_schema_extra={"format": "password"}),
]


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    display_name: DisplayName
    password: Password
    roles: RoleList
    scope: ScopeText
    phone: Phone | None = None


class AccountUpdate(BaseModel):
    """Only the fields sent are changed (`exclude_unset`); `phone: null` removes the phone."""

    model_config = ConfigDict(extra="forbid")

    display_name: DisplayName | None = None
    phone: Phone | None = None
    roles: RoleList | None = None
    scope: ScopeText | None = None
    disabled: bool | None = None


class AccountRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    username: str
    display_name: str | None
    phone: str | None
    roles: list[str]
    scope: str
    disabled: bool
    must_change_password: bool
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    password_changed_at: datetime | None


class AccountPage(BaseModel):
    items: list[AccountRead]
    next_cursor: str | None = None


class PasswordReset(BaseModel):
    """An administrator's new password for an account; its owner must change it at the next
    login."""

    model_config = ConfigDict(extra="forbid")

    password: Password


class PasswordChange(BaseModel):
    """An account's owner changes its password; no token needed (a first login that must
    change the password gets none)."""

    model_config = ConfigDict(extra="forbid")

    username: Annotated[Key, Field(max_length=64)]
    current_password: Password
    new_password: Password


class TokenRead(BaseModel):
    """OAuth2's token answer (RFC 6749 5.1): a short access token, and the refresh token that
    gets the next one (POST /api/v1/auth/refresh), good once."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int
    refresh_token: str


class Jwk(BaseModel):
    """One public key of the issuer (RFC 7517, Ed25519 per RFC 8037)."""

    kty: str
    crv: str
    x: str
    kid: str
    alg: str
    use: str


class JwksRead(BaseModel):
    """The issuer's public keys: what verifies its tokens (never a private part)."""

    keys: list[Jwk]


class TotpEnrolmentRead(BaseModel):
    """A second factor being enrolled: give `otpauth_uri` (as a QR code) or `secret` to an
    authenticator app, then confirm with one of its codes. Shown this once."""

    secret: str
    otpauth_uri: str
    confirm: str = "/api/v1/auth/totp/confirm"


class TotpConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Field(pattern=r"^[0-9]{6}$", examples=["492039"])]


class RoleRead(BaseModel):
    """A role an account may be given, with what it permits."""

    id: str
    label_zh: str
    label_en: str
    permissions: list[str]
    administrator: bool


class MeRead(BaseModel):
    """Who the token's account is, and what it may do where."""

    username: str
    display_name: str | None
    phone: str | None
    roles: list[str]
    scope: str
    permissions: list[str]
    password_changed_at: datetime | None
