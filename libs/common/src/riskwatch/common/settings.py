"""Settings shared by every RiskWatch service: environment variables with the `RW_` prefix.

Nested groups use a double underscore (`RW_DATABASE__URL`, `RW_KAFKA__BOOTSTRAP_SERVERS`).
Nothing is built at import time; `get_settings()` caches one instance per settings class.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from riskwatch.common.identity.policy import PasswordPolicy

Environment = Literal["development", "test", "production"]
Role = Literal["all", "api", "worker"]

# Secrets that must never reach production: the defaults and the usual placeholders.
DEV_JWT_SECRET = "riskwatch-development-secret-never-use-in-production"  # noqa: S105 - refused in production
_PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "dev-secret", "insecure", DEV_JWT_SECRET}
)


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


class AuthSettings(BaseModel):
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    issuer: str = "riskwatch"
    audience: str = "riskwatch"
    token_ttl_seconds: int = 8 * 3600
    # The process that hosts POST /api/v1/auth/token (embedded mode; ingest when distributed).
    builtin_issuer: bool = False
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
    timezone: str = "Asia/Shanghai"
    outbox_poll_interval_s: float = 0.5
    # Password of the built-in issuer's `admin` account; generated and printed once if unset.
    admin_password: SecretStr | None = None
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)

    @field_validator("sectors", mode="before")
    @classmethod
    def _split_sectors(cls, value: object) -> object:
        if isinstance(value, str):
            return [s.strip() for s in value.split(",") if s.strip()] or ["all"]
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        # Months, shifts and deadlines are read in the district's zone: a typo must stop the
        # process at start, not turn requests into errors later.
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name, e.g. Asia/Shanghai)"
            ) from exc
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> ServiceSettings:
        if self.env == "production":
            secret = self.auth.jwt_secret.get_secret_value()
            if secret.lower() in _PLACEHOLDER_SECRETS or len(secret) < 32:
                raise ValueError(
                    "RW_AUTH__JWT_SECRET must be set to a random value of at least 32 characters "
                    "in production"
                )
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
