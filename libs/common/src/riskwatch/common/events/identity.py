"""Topic `rw.identity.accounts`, key the username: an account's state as services need it to
check a token (who exists, with which roles and scope, whether disabled, which session epoch).

Identity stages one in the transaction of every account write (creation, change of roles,
scope or status, password change or reset), through its outbox. Never a password, a phone
or a name. Services keep the latest snapshot per account (`riskwatch.common.principals`).
"""

from __future__ import annotations

from pydantic import Field

from riskwatch.common.events.base import EventPayload, Timestamp, event_type


@event_type("rw.identity.account_changed.v1")
class AccountChanged(EventPayload):
    username: str = Field(min_length=1, max_length=64)
    roles: list[str] = Field(default_factory=list, max_length=32)
    scope: str = Field(max_length=80)  # "district", "sector:<id>", "town:<id>", "village:<id>"
    disabled: bool
    # Bumped by a password change or reset, disabling, or a change of roles or scope; a token
    # whose claim `ver` is older is revoked. Snapshots are ordered by (session_epoch,
    # changed_at): an older one arriving late changes nothing.
    session_epoch: int = Field(ge=0)
    changed_at: Timestamp
