"""Settings shared by every RiskWatch service: environment variables with the `RW_` prefix.

Nested groups use a double underscore (`RW_DATABASE__URL`, `RW_KAFKA__BOOTSTRAP_SERVERS`).
Nothing is built at import time; `get_settings()` caches one instance per settings class.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import limits
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from riskwatch.common.identity.policy import PasswordPolicy

Environment = Literal["development", "test", "production"]
Role = Literal["all", "api", "worker"]


class DatabaseSettings(BaseModel):
    url: str = "postgresql+asyncpg://postgres@127.0.0.1:5544/riskwatch"
    pool_size: int = 10
    max_overflow: int = 10
    # A request waits at most this long for a free connection, then answers 503.
    pool_timeout_s: float = 5.0
    # Consumers hold a connection only while they handle a batch, one batch at a time each.
    consumer_pool_size: int = 4
    echo: bool = False


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "riskwatch"
    # Partitions per topic when the service creates it; readings get more because they carry
    # the bulk of the traffic and are the unit of alerting parallelism within a sector.
    readings_partitions: int = 6
    default_partitions: int = 3
    replication_factor: int = 1
    linger_ms: int = 5
    max_batch_size: int = 1_048_576
    request_timeout_ms: int = 30_000


class TrustedIssuer(BaseModel):
    """An external OIDC provider whose tokens are accepted: verified with its published keys,
    its subject mapped to a local account that gives roles and scope (docs/adr/0014)."""

    issuer: str = Field(min_length=1)
    jwks_url: str = Field(pattern=r"^https?://")
    audience: str = Field(min_length=1)
    username_claim: str = "preferred_username"
    # Only when set: the roles come from this claim (those access.ROLES knows), not the account.
    roles_claim: str | None = None


class AuthSettings(BaseModel):
    """Tokens: Ed25519-signed JWTs from the built-in issuer (its keys in the identity schema,
    published at /.well-known/jwks.json) or from a trusted external issuer; no shared secret."""

    issuer: str = "riskwatch"
    audience: str = "riskwatch"
    # The process that hosts POST /api/v1/auth/token (embedded mode; ingest when distributed).
    builtin_issuer: bool = False
    # Where a process without the issuer fetches its public keys, e.g.
    # http://ingest:8001/.well-known/jwks.json; cached, refetched for a key id it does not
    # know at most every `jwks_min_refetch_s`, and after `jwks_cache_s` anyway.
    jwks_url: str | None = Field(default=None, pattern=r"^https?://")
    jwks_cache_s: int = Field(default=300, ge=1)
    jwks_min_refetch_s: float = Field(default=30.0, ge=0)
    trusted_issuers: list[TrustedIssuer] = Field(default_factory=list)
    # Access tokens are short: a logout, a disabling or a stolen token lasts this long at most
    # in the services that cannot ask the issuer. Refresh tokens carry the session.
    access_token_ttl_s: int = Field(default=15 * 60, ge=30, le=24 * 3600)
    # A session that has not been refreshed for this long ends; none outlives the maximum.
    session_idle_s: int = Field(default=30 * 60, ge=60)
    session_max_s: int = Field(default=12 * 3600, ge=60)
    # The issuer signs with a new key this often; the old one stays published until every
    # token it signed has ended.
    key_rotation_days: float = Field(default=30, gt=0)
    # A second factor (TOTP) at login for the three administrators. None: required in
    # production, not elsewhere (ServiceSettings fills it in).
    require_totp_for_admins: bool | None = None
    # Login hardening of the built-in issuer: this many failures within the window lock the
    # account, and the client address, until the window has passed.
    login_max_failures: int = Field(default=5, ge=1)
    login_window_s: int = Field(default=15 * 60, ge=1)
    password_min_length: int = Field(default=12, ge=8)
    # argon2 runs in this many worker threads (each takes 64 MiB while it hashes).
    hash_workers: int = Field(default=4, ge=1, le=64)


class ConsumerSettings(BaseModel):
    max_attempts: int = 5
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 5.0
    batch_max_records: int = 500


# Origins a browser may call the API from: a scheme and a host, a port at most, no path.
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


class HttpSettings(BaseModel):
    """The HTTP edge every service shares (riskwatch.common.edge, docs/adr/0016)."""

    # The largest request body a route takes, unless it has its own limit (a readings batch).
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Requests per client address (counted before authentication) and per account (after
    # it), in the notation of the `limits` library ("600/minute", "20/second") or "off".
    # Each process counts its own, in memory: N replicas let N times as many through.
    rate_per_address: str = "1200/minute"
    rate_per_account: str = "600/minute"
    # Machine accounts (role gateway) post readings in batches: their own, higher limit.
    rate_per_gateway: str = "12000/minute"
    # Origins a browser may call the API from, comma-separated; empty: no CORS at all.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Clients reach the platform over HTTPS only (here or at a proxy in front): send HSTS.
    behind_tls: bool = False
    # /docs, /redoc and /openapi.json; None: on, except in production.
    docs: Literal["on", "off"] | None = None
    # With a value, /metrics answers only `Authorization: Bearer <this token>`.
    metrics_token: SecretStr | None = None

    @field_validator("rate_per_address", "rate_per_account", "rate_per_gateway")
    @classmethod
    def _a_rate(cls, value: str) -> str:
        value = value.strip()
        if value.lower() != "off":
            try:
                limits.parse(value)
            except ValueError as exc:
                raise ValueError(f"{value!r} is not a rate such as 600/minute, or off") from exc
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, value: list[str]) -> list[str]:
        wrong = [o for o in value if not _ORIGIN.match(o)]
        if wrong:
            raise ValueError(
                f"not an origin such as https://ops.example.org: {wrong} (name each one; no *)"
            )
        return value


class ServiceSettings(BaseSettings):
    """Settings every service process reads; services subclass it for their own fields."""

    model_config = SettingsConfigDict(
        env_prefix="RW_",
        env_nested_delimiter="__",
        extra="ignore",
        case_sensitive=False,
        # A refused setting is reported by name: the input may hold secrets (RW_ADMIN_PASSWORD).
        hide_input_in_errors=True,
    )

    env: Environment = "development"
    service_name: str = "riskwatch"
    role: Role = "all"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool | None = None  # None: JSON when stdout is not a TTY
    bus: Literal["kafka", "memory"] = "kafka"
    # "all" or a comma-separated list of sector ids from the catalog.
    sectors: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["all"])
    data_dir: Path = Path(".riskwatch")
    catalog_path: Path | None = None
    outbox_poll_interval_s: float = 0.5
    # Password of the built-in issuer's `admin` account; generated and printed once if unset.
    admin_password: SecretStr | None = None
    # With a value, the built-in issuer opens the demo accounts (identity/demo.py) with this
    # password (never changing existing ones); refused in production.
    demo_password: SecretStr | None = None
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)

    @field_validator("sectors", mode="before")
    @classmethod
    def _split_sectors(cls, value: object) -> object:
        if isinstance(value, str):
            return [s.strip() for s in value.split(",") if s.strip()] or ["all"]
        return value

    @model_validator(mode="after")
    def _resolve_token_settings(self) -> ServiceSettings:
        auth = self.auth
        if auth.require_totp_for_admins is None:  # a copy: an AuthSettings may be shared
            auth = self.auth = auth.model_copy(
                update={"require_totp_for_admins": self.env == "production"}
            )
        if auth.session_idle_s > auth.session_max_s:
            raise ValueError("RW_AUTH__SESSION_IDLE_S must not exceed RW_AUTH__SESSION_MAX_S")
        if self.env == "production":
            # Keys fetched in clear text over a network someone else runs could be swapped.
            plain = [t.issuer for t in auth.trusted_issuers if not t.jwks_url.startswith("https:")]
            if plain:
                raise ValueError(
                    "RW_AUTH__TRUSTED_ISSUERS: the keys of an external issuer are fetched over "
                    f"https in production ({', '.join(plain)})"
                )
        return self

    @model_validator(mode="after")
    def _refuse_demo_accounts_in_production(self) -> ServiceSettings:
        if self.env == "production" and self.demo_password is not None:
            raise ValueError("RW_DEMO_PASSWORD opens demo accounts; it is refused in production")
        return self

    @model_validator(mode="after")
    def _refuse_weak_admin_password(self) -> ServiceSettings:
        # Production refuses to start; elsewhere the issuer warns at start (identity module).
        if self.env == "production":
            reasons = self.admin_password_violations()
            if reasons:
                raise ValueError(
                    "RW_ADMIN_PASSWORD does not follow the password policy: " + " ".join(reasons)
                )
        return self

    def admin_password_violations(self) -> list[str]:
        """Why RW_ADMIN_PASSWORD is weak (never the password itself); empty when it is fine
        or unset (then the issuer generates a strong one)."""
        if self.admin_password is None:
            return []
        policy = PasswordPolicy(min_length=self.auth.password_min_length)
        found = policy.check(self.admin_password.get_secret_value(), username="admin")
        return [v.message for v in found]

    def serves_all_sectors(self) -> bool:
        return "all" in self.sectors


S = TypeVar("S", bound=ServiceSettings)


@cache
def get_settings(cls: type[S]) -> S:
    """One cached settings instance per class, read from the environment on first use."""
    return cls()
