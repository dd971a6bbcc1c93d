"""Bearer-token authentication and authorization: JWTs verified on every endpoint but health
and metrics, and one permission (`riskwatch.common.access`) required by every route.

`require(Permission.X)` gives a route the caller, with the permissions of its roles and its org
scope, or answers 403 (recorded in the audit trail). Tokens come from the built-in issuer
(`riskwatch.common.identity`), signed with its Ed25519 keys and verified with their public
halves (a `KeySet`: the identity store, or the issuer's /.well-known/jwks.json), or from a
trusted external OIDC issuer (docs/adr/0014-tokens.md).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import math
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import jwt
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from jwt import PyJWK

from riskwatch.common import principals as accounts
from riskwatch.common.access import DISTRICT, Permission, Scope, permissions_of
from riskwatch.common.audit import emit as audit
from riskwatch.common.errors import Forbidden, Unauthorized, Unavailable
from riskwatch.common.settings import AuthSettings, TrustedIssuer

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


# Asymmetric algorithms only: a token signed with a shared secret (HS*) or with none is refused,
# also from an external issuer whose key set would allow one.
ACCEPTED_ALGORITHMS = frozenset(
    {"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
SIGNING_ALGORITHM = "EdDSA"
LEEWAY_S = 30  # clocks of the issuer and the services may differ this much
# Second factors an external issuer may name in `amr` (RFC 8176).
SECOND_FACTORS = frozenset({"otp", "mfa", "hwk", "swk", "sms", "fpt", "face"})
TOTP_ENROLMENT = "totp-enrolment"  # suffix of the audience of an enrolment-only token
# Tokens verified lately, by their text: a client sends one token many times (a gateway, every
# batch), and an Ed25519 verification costs hundreds of microseconds where a lookup costs none.
# Times are still checked at every use; a key is dropped only after its tokens have expired.
VERIFIED_CACHE_SIZE = 4096

log = structlog.get_logger(__name__)


class KeysUnavailable(Unavailable):
    """The keys that would verify a token cannot be had now (the issuer is unreachable): not
    the caller's fault, so 503 and retry, never 401."""

    code = "keys-unavailable"
    title = "Token keys unavailable"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An Ed25519 key pair of the issuer; `kid` is the RFC 7638 thumbprint of its public JWK."""

    kid: str
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        private_key = Ed25519PrivateKey.generate()
        return cls(_thumbprint(private_key.public_key()), private_key)

    @classmethod
    def from_pem(cls, kid: str, pem: str) -> SigningKey:
        loaded = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"signing key {kid} is not an Ed25519 key")
        return cls(kid, loaded)

    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")

    def public_jwk(self) -> dict[str, str]:
        """The public half as a JWK: what the JWKS document publishes (never `d`)."""
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(_raw_public(self.private_key.public_key())),
            "kid": self.kid,
            "alg": SIGNING_ALGORITHM,
            "use": "sig",
        }


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _thumbprint(key: Ed25519PublicKey) -> str:
    # RFC 7638: the required members, sorted, no whitespace.
    canonical = f'{{"crv":"Ed25519","kty":"OKP","x":"{_b64url(_raw_public(key))}"}}'
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def parse_jwks(document: Mapping[str, Any]) -> dict[str, PyJWK]:
    """The usable public signing keys of a JWKS document, by kid. A key without kid, with a
    private part, for encryption, or of an algorithm not in ACCEPTED_ALGORITHMS is left out."""
    found: dict[str, PyJWK] = {}
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise ValueError("not a JWKS document: no `keys` list")
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        if "d" in entry or entry.get("use", "sig") != "sig":
            continue
        try:
            key = PyJWK(entry)
        except jwt.PyJWTError:
            continue  # a key type this process cannot use; the others still count
        if key.algorithm_name in ACCEPTED_ALGORITHMS:
            found[entry["kid"]] = key
    return found


JwksLoader = Callable[[], Awaitable[Mapping[str, Any]]]


class KeySet:
    """Public keys by kid, loaded as a JWKS document by `load`: from the identity store in the
    process that hosts the issuer, from an issuer's URL elsewhere.

    The keys are cached; a kid not among them reloads the set (a token signed by a key made
    since), at most once per `min_reload_s`, and a set older than `max_age_s` is reloaded on
    use (keys dropped by the issuer stop verifying). While the keys cannot be loaded a known
    kid still verifies; an unknown one is `KeysUnavailable` (503), as it may be a new key.
    """

    def __init__(
        self,
        load: JwksLoader,
        *,
        name: str,
        max_age_s: float = 300.0,
        min_reload_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._load = load
        self._max_age = max_age_s
        self._min_reload = min_reload_s
        self._monotonic = monotonic
        self._keys: dict[str, PyJWK] | None = None
        self._loaded_at = -math.inf
        self._attempted_at = -math.inf
        self._failed = False
        self._lock = asyncio.Lock()

    @classmethod
    def static(cls, document: Mapping[str, Any], *, name: str = "static") -> KeySet:
        async def load() -> Mapping[str, Any]:
            return document

        return cls(load, name=name, max_age_s=math.inf, min_reload_s=math.inf)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        max_age_s: float = 300.0,
        min_reload_s: float = 30.0,
        timeout_s: float = 5.0,
    ) -> KeySet:
        async def load() -> Mapping[str, Any]:
            async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
                response = await client.get(url, headers={"Accept": "application/json"})
                response.raise_for_status()
                document = response.json()
            if not isinstance(document, dict):
                raise ValueError("not a JWKS document")
            return document

        return cls(load, name=url, max_age_s=max_age_s, min_reload_s=min_reload_s)

    def invalidate(self) -> None:
        """Reload at the next use (the issuer made or dropped a key in this process)."""
        self._loaded_at = -math.inf
        self._attempted_at = -math.inf

    async def key(self, kid: str) -> PyJWK:
        keys = self._keys
        if keys is not None and kid in keys and not self._stale():
            return keys[kid]
        async with self._lock:  # one reload at a time; the others use its result
            keys = self._keys
            wanted = keys is None or kid not in keys or self._stale()
            if wanted and self._monotonic() - self._attempted_at >= self._min_reload:
                await self._reload()
            keys = self._keys
        if keys is not None and kid in keys:
            return keys[kid]
        if keys is None or self._failed:
            raise KeysUnavailable("The keys that verify this token cannot be fetched now.")
        raise Unauthorized("The token is signed with an unknown key.")

    def _stale(self) -> bool:
        return self._monotonic() - self._loaded_at >= self._max_age

    async def _reload(self) -> None:
        self._attempted_at = self._monotonic()
        try:
            document = await self._load()
            keys = parse_jwks(document)
        except Exception as exc:
            self._failed = True
            log.warning("jwks_load_failed", keys=self.name, error_type=type(exc).__name__)
            return
        self._keys = keys
        self._failed = False
        self._loaded_at = self._attempted_at


# Keys this process made for itself and trusts for its own issuer beside the issuer's: only
# `riskwatch.common.testing` adds one (a key pair generated per test process, held in memory),
# so that service tests mint tokens without a database. Nothing in a service adds any.
_LOCAL_KEYS: dict[str, PyJWK] = {}


def trust_local_key(key: SigningKey) -> None:
    _LOCAL_KEYS[key.kid] = PyJWK(key.public_jwk())


AccountResolver = Callable[[str, Mapping[str, Any], TrustedIssuer], Awaitable[Principal]]
SigningKeySource = Callable[[], Awaitable[SigningKey]]


class TokenService:
    """Issues (in the process hosting the built-in issuer) and verifies access tokens.

    Verification goes through a `KeySet`: the identity store's keys where the issuer is
    hosted (`host_issuer`), else RW_AUTH__JWKS_URL; tokens of a trusted external issuer
    through that issuer's JWKS, their subject mapped to a local account by the issuer's
    process (`resolve_account`)."""

    def __init__(
        self,
        settings: AuthSettings,
        *,
        keys: KeySet | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._settings = settings
        if keys is None and settings.jwks_url:
            keys = KeySet.from_url(
                settings.jwks_url,
                max_age_s=settings.jwks_cache_s,
                min_reload_s=settings.jwks_min_refetch_s,
            )
        self._keys = keys
        self._trusted = {t.issuer: t for t in settings.trusted_issuers}
        self._external: dict[str, KeySet] = {}
        self._signing_key: SigningKeySource | None = None
        self._resolve_account: AccountResolver | None = None
        self._verified: OrderedDict[str, tuple[dict[str, Any], TrustedIssuer | None]] = (
            OrderedDict()
        )
        self.clock = clock

    @property
    def settings(self) -> AuthSettings:
        return self._settings

    def host_issuer(
        self,
        *,
        keys: KeySet,
        signing_key: SigningKeySource,
        resolve_account: AccountResolver | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """This process hosts the built-in issuer (the identity module, at start): its own
        keys verify, the newest signs, and its accounts stand behind external subjects."""
        self._keys = keys
        self._signing_key = signing_key
        self._resolve_account = resolve_account
        self._verified.clear()
        if clock is not None:
            self.clock = clock

    def mint(
        self,
        subject: str,
        *,
        key: SigningKey,
        roles: tuple[str, ...] = (),
        scope: Scope = DISTRICT,
        version: int = 0,
        session_id: str | None = None,
        amr: tuple[str, ...] = ("pwd",),
        audience: str | None = None,
        ttl_s: int | None = None,
    ) -> tuple[str, int]:
        """A token for `subject` signed with `key`, and its lifetime in seconds. `version` is
        the account's session epoch (claim `ver`), which the issuer compares to refuse tokens
        older than a password change or a disabling; `session_id` (claim `sid`) the session
        its refresh token continues."""
        now = self.clock()
        ttl = ttl_s if ttl_s is not None else self._settings.access_token_ttl_s
        claims: dict[str, Any] = {
            "iss": self._settings.issuer,
            "aud": audience or self._settings.audience,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + timedelta(seconds=ttl),
            "jti": str(uuid.uuid4()),
            "roles": list(roles),
            "org": str(scope),
            "ver": version,
            "amr": list(amr),
        }
        if session_id is not None:
            claims["sid"] = session_id
        token = jwt.encode(
            claims, key.private_key, algorithm=SIGNING_ALGORITHM, headers={"kid": key.kid}
        )
        return token, ttl

    async def issue(
        self,
        subject: str,
        *,
        roles: tuple[str, ...] = (),
        scope: Scope = DISTRICT,
        version: int = 0,
        session_id: str | None = None,
        amr: tuple[str, ...] = ("pwd",),
        audience: str | None = None,
        ttl_s: int | None = None,
    ) -> tuple[str, int]:
        """`mint` with the issuer's current signing key."""
        if self._signing_key is None:
            raise RuntimeError("this process does not host the token issuer")
        return self.mint(
            subject,
            key=await self._signing_key(),
            roles=roles,
            scope=scope,
            version=version,
            session_id=session_id,
            amr=amr,
            audience=audience,
            ttl_s=ttl_s,
        )

    async def verify_claims(
        self, token: str, *, audience: str | None = None
    ) -> tuple[dict[str, Any], TrustedIssuer | None]:
        """The claims of a valid token and the external issuer that signed it (None: ours).
        `audience` replaces ours (an enrolment-only token); an external token always needs
        the audience configured for its issuer."""
        if audience is None and (seen := self._verified.get(token)) is not None:
            self._verified.move_to_end(token)
            self._check_times(seen[0])
            return seen
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Unauthorized("The token is not valid.") from exc
        kid, issuer = header.get("kid"), unverified.get("iss")
        if not isinstance(kid, str) or not isinstance(issuer, str):
            raise Unauthorized("The token is not valid.")
        trusted = self._trusted.get(issuer)
        if issuer == self._settings.issuer:
            trusted = None
            key = _LOCAL_KEYS.get(kid) or await self._own_key(kid)
            wanted = audience or self._settings.audience
        elif trusted is not None:
            key = await self._external_keys(trusted).key(kid)
            wanted = trusted.audience
        else:
            raise Unauthorized("The token's issuer is not trusted here.")
        if key.algorithm_name not in ACCEPTED_ALGORITHMS:
            raise Unauthorized("The token is not valid.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                audience=wanted,
                issuer=issuer,
                # Times are checked below, against the service's clock.
                options={
                    "require": ["exp", "sub", "iss", "aud"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized("The token is not valid.") from exc
        self._check_times(claims)
        if audience is None:
            self._verified[token] = (claims, trusted)
            if len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        return claims, trusted

    async def verify(self, token: str) -> Principal:
        claims, trusted = await self.verify_claims(token)
        if trusted is not None:
            return await self._external_principal(claims, trusted)
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

    async def _own_key(self, kid: str) -> PyJWK:
        if self._keys is None:  # neither the issuer here nor RW_AUTH__JWKS_URL
            raise Unauthorized("The token is signed with an unknown key.")
        return await self._keys.key(kid)

    def _external_keys(self, trusted: TrustedIssuer) -> KeySet:
        keys = self._external.get(trusted.issuer)
        if keys is None:
            keys = self._external[trusted.issuer] = KeySet.from_url(
                trusted.jwks_url,
                max_age_s=self._settings.jwks_cache_s,
                min_reload_s=self._settings.jwks_min_refetch_s,
            )
        return keys

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self.clock().timestamp()
        expires, not_before = claims.get("exp"), claims.get("nbf")
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            raise Unauthorized("The token is not valid.")
        if now > expires + LEEWAY_S:
            raise Unauthorized("The token has expired.")
        if not_before is not None and (
            not isinstance(not_before, int | float) or now + LEEWAY_S < not_before
        ):
            raise Unauthorized("The token is not valid yet.")

    async def _external_principal(
        self, claims: Mapping[str, Any], trusted: TrustedIssuer
    ) -> Principal:
        username = claims.get(trusted.username_claim)
        if not isinstance(username, str) or not username:
            raise Unauthorized(f"The token has no {trusted.username_claim} claim.")
        if self._resolve_account is None:
            raise Unauthorized(
                "Tokens of an external issuer are accepted where the built-in issuer's accounts "
                "are (the issuer's process, the embedded platform)."
            )
        return await self._resolve_account(username, claims, trusted)


async def current_principal(
    request: Request, token: Annotated[str | None, Depends(_bearer)]
) -> Principal:
    if not token:
        raise Unauthorized("A bearer token is required.")
    tokens: TokenService = request.app.state.tokens
    principal = await tokens.verify(token)
    principal = await live_principal(request, principal, token)
    request.state.principal = principal
    return principal


async def live_principal(request: Request, principal: Principal, token: str) -> Principal:
    """The verified token's caller as its account stands now (ADR 0015): an account this
    service knows, enabled, whose session epoch the token's `ver` has reached; with the roles
    and scope of the account, not the token's. Else 401, recorded in the audit trail."""
    source: accounts.AccountSource | None = getattr(request.app.state, "principals", None)
    account = await source.account(principal) if source is not None else None
    version = token_version(token, issuer=request.app.state.tokens.settings.issuer)
    reason = accounts.refusal(account, token_version=version)
    scope = None
    if account is not None and reason is None:
        try:
            scope = Scope.parse(account.scope)
        except ValueError:
            reason = accounts.UNKNOWN
    if account is None or scope is None or reason is not None:
        await _reject(request, principal, reason or accounts.UNKNOWN)
        raise Unauthorized(reason or accounts.UNKNOWN)
    return dataclasses.replace(principal, roles=account.roles, scope=scope)


def token_version(token: str, *, issuer: str) -> int | None:
    """The claim `ver` of a token (already verified) of our `issuer`: its account's session
    epoch when it was issued; 0 when absent, -1 when not a number. None for an external
    issuer's token, which knows nothing of our epochs."""
    claims = jwt.decode(token, options={"verify_signature": False})
    if claims.get("iss") != issuer:
        return None
    version = claims.get("ver", 0)
    return version if isinstance(version, int) and not isinstance(version, bool) else -1


async def _reject(request: Request, principal: Principal, reason: str) -> None:
    request.state.audit = None  # no write of this request is recorded: it never happens
    entry = audit.record(
        service=request.app.state.settings.service_name,
        action="auth.rejected",
        outcome="denied",
        principal=principal,  # the subject, and the roles and scope its token claims
        request=request,
        resource=f"{request.method} {request.url.path.removeprefix('/api/v1/')}",
        status=401,
        reason=reason,
    )
    await audit.publish_now(request, entry)


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
