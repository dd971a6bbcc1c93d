"""`sessions.end_reason`, the pure decision behind every refresh: whether a refresh token may
continue its session now, and if not why. Called as production calls it, on model instances
that never touch a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from riskwatch.common.identity import sessions
from riskwatch.common.identity.models import Account, AuthSession, RefreshToken
from riskwatch.common.identity.passwords import shared_hashing
from riskwatch.common.identity.service import Identity
from riskwatch.common.settings import AuthSettings

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
AUTH = AuthSettings(session_idle_s=1800, session_max_s=43200, require_totp_for_admins=True)
IDENTITY = Identity(auth=AUTH, hashing=shared_hashing(1))


def world(
    *,
    used: bool = False,
    revoked: str | None = None,
    epoch_moved: bool = False,
    disabled: bool = False,
    roles: tuple[str, ...] = ("handler",),
    totp: bool = False,
    amr: tuple[str, ...] = ("pwd",),
) -> tuple[AuthSession, RefreshToken, Account]:
    auth_session = AuthSession(
        sid="s1",
        username="li",
        session_epoch=3,
        amr=list(amr),
        created_at=T0,
        last_used_at=T0,
        expires_at=T0 + timedelta(seconds=AUTH.session_max_s),
        revoked_at=T0 if revoked else None,
        revoked_reason=revoked,
    )
    token = RefreshToken(hash="h", sid="s1", issued_at=T0, used_at=T0 if used else None)
    account = Account(
        username="li",
        roles=list(roles),
        disabled=disabled,
        session_epoch=4 if epoch_moved else 3,
        totp_secret="JBSWY3DPEHPK3PXP" if totp else None,
    )
    return auth_session, token, account


def reason(parts: tuple[AuthSession, RefreshToken, Account | None], now: datetime) -> str | None:
    auth_session, token, account = parts
    return sessions.end_reason(auth_session, token, account, identity=IDENTITY, now=now)


def test_a_fresh_token_of_a_live_session_continues() -> None:
    assert reason(world(), T0 + timedelta(minutes=29)) is None


def test_each_reason_to_end() -> None:
    later = T0 + timedelta(minutes=1)
    assert reason(world(used=True), later) == sessions.REUSED
    assert reason(world(revoked="logout"), later) == sessions.LOGGED_OUT
    assert reason(world(), T0 + timedelta(seconds=AUTH.session_idle_s)) == sessions.IDLE
    auth_session, token, account = world()
    auth_session.last_used_at = T0 + timedelta(hours=12)  # busy all along, yet too old
    assert reason((auth_session, token, account), T0 + timedelta(hours=12, minutes=1)) == (
        sessions.EXPIRED
    )
    assert reason(world(epoch_moved=True), later) == sessions.ACCOUNT_CHANGED
    assert reason(world(disabled=True), later) == sessions.ACCOUNT_CHANGED
    assert reason((*world()[:2], None), later) == sessions.ACCOUNT_CHANGED
    admin = world(roles=("audit_admin",))
    assert reason(admin, later) == sessions.SECOND_FACTOR_MISSING
    assert reason(world(totp=True), later) == sessions.SECOND_FACTOR_MISSING
    assert reason(world(totp=True, amr=("pwd", "otp")), later) is None


@given(
    used=st.booleans(),
    revoked=st.booleans(),
    epoch_moved=st.booleans(),
    disabled=st.booleans(),
    minutes=st.integers(min_value=0, max_value=24 * 60),
)
def test_a_spent_token_never_continues_and_reuse_is_named_first(
    used: bool, revoked: bool, epoch_moved: bool, disabled: bool, minutes: int
) -> None:
    """Reuse is what must end the session for both copies: whatever else is also wrong, a
    spent token is reported as reused; and anything wrong ends the session."""
    parts = world(
        used=used,
        revoked="logout" if revoked else None,
        epoch_moved=epoch_moved,
        disabled=disabled,
    )
    found = reason(parts, T0 + timedelta(minutes=minutes))
    if used:
        assert found == sessions.REUSED
    broken = used or revoked or epoch_moved or disabled or minutes >= 30
    assert (found is not None) == broken
