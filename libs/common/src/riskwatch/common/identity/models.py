"""Tables of the built-in issuer: accounts, recent login failures, signing keys, sessions and
their refresh tokens, and the schema's outbox (audit records of logins and account changes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, String, Text, false, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from riskwatch.common.access import Scope
from riskwatch.common.db import TYPE_ANNOTATION_MAP, TimestampMixin, service_metadata
from riskwatch.common.outbox import Outbox

SCHEMA = "identity"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)
    type_annotation_map = TYPE_ANNOTATION_MAP


class Account(TimestampMixin, Base):
    """A person (or a gateway's machine account) who logs in: rosters and work orders name
    them by `username`."""

    __tablename__ = "account"
    __table_args__ = (
        Index("ix_account_created_at_username", "created_at", "username"),
        Index("ix_account_sector_id", "sector_id"),
        Index("ix_account_town_id", "town_id"),
        Index("ix_account_village_id", "village_id"),
    )

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(String(32))
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    # The org scope as text ("district", "town:huamu"), and where it sits, for filtering the
    # account list by the caller's scope with `Scope.clause`: a village's town is stored too,
    # so the town's administrators see the village's accounts.
    scope: Mapped[str] = mapped_column(String(80), server_default=text("'district'"))
    sector_id: Mapped[str | None] = mapped_column(String(64))
    town_id: Mapped[str | None] = mapped_column(String(64))
    village_id: Mapped[str | None] = mapped_column(String(64))
    disabled: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Set when an administrator chose the password (created or reset the account): only its
    # owner should know a password, so the first login asks for a new one.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Bumped by a password change, disabling, or a change of roles or scope; tokens carry it
    # (claim `ver`), and the issuer refuses a token of an older epoch.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    created_by: Mapped[str | None] = mapped_column(String(64))
    password_changed_at: Mapped[datetime | None]
    # Digest of the last snapshot staged on rw.identity.accounts (`identity.publish`): at
    # start the issuer publishes every account whose current snapshot differs (ADR 0015).
    published_digest: Mapped[str | None] = mapped_column(String(64))
    # The second factor (TOTP, RFC 6238): the secret in use once confirmed, one being enrolled
    # until its first code is confirmed, and the last time step accepted (a code is good once).
    # Kept as is, like the signing keys beside them (docs/adr/0014-tokens.md).
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_pending_secret: Mapped[str | None] = mapped_column(String(64))
    totp_confirmed_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    @property
    def org_scope(self) -> Scope:
        return Scope.parse(self.scope)


class LoginFailure(Base):
    """One failed login, counted against a key (`kind` "account": the username given;
    "address": the client address) for `AuthSettings.login_window_s`, then pruned."""

    __tablename__ = "login_failure"
    __table_args__ = (
        Index("ix_login_failure_kind_key_at", "kind", "key", "at"),
        Index("ix_login_failure_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class SigningKeyRecord(Base):
    """An Ed25519 key pair of the issuer. The newest active one signs; a retired one is
    published (JWKS) until every token it signed has ended, then deleted."""

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, str]] = mapped_column(JSONB)
    created_at: Mapped[datetime]
    # Published from creation, signing from here: services fetch a new key before they meet it.
    activated_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class AuthSession(Base):
    """A login: what its refresh tokens continue until logout, idleness, its maximum age, a
    reused refresh token or a change of the account ends it."""

    __tablename__ = "session"
    __table_args__ = (
        Index("ix_session_username", "username"),
        Index("ix_session_expires_at", "expires_at"),
    )

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    # The account's session epoch at login: a password change, disabling or new roles end it.
    session_epoch: Mapped[int]
    amr: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(64))


class RefreshToken(Base):
    """One refresh token of a session, by its SHA-256 (the token itself is never stored):
    good once; a second use means it was copied, and ends the session."""

    __tablename__ = "refresh_token"
    __table_args__ = (Index("ix_refresh_token_sid", "sid"),)

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("session.sid", ondelete="CASCADE"))
    issued_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


outbox = Outbox(Base.metadata)
