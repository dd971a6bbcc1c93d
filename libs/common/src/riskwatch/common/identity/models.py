"""Tables of the built-in issuer: accounts, recent login failures, and the schema's outbox
(audit records of logins and account changes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Identity, Index, String, false, text
from sqlalchemy.dialects.postgresql import ARRAY
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


outbox = Outbox(Base.metadata)
