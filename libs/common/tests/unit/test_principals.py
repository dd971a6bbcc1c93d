"""The rules of the accounts projection (ADR 0015), pure: whatever order identity's snapshots
arrive in, and however often, each account ends at its newest one; and which tokens the
state of an account admits."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from riskwatch.common.principals import REVOKED, UNKNOWN, AccountState, latest, merge, refusal

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def state(
    username: str = "li",
    *,
    epoch: int = 0,
    at: datetime = T0,
    roles: tuple[str, ...] = ("handler",),
    disabled: bool = False,
) -> AccountState:
    return AccountState(
        username=username,
        roles=roles,
        scope="district",
        disabled=disabled,
        session_epoch=epoch,
        changed_at=at,
    )


# One account's history as identity writes it: each change either bumps the epoch (roles,
# scope, status, password) or not (a name), and happens later than the one before.
histories = st.lists(
    st.tuples(st.booleans(), st.integers(1, 3600), st.sampled_from(["handler", "leader"])),
    min_size=1,
    max_size=12,
)


def history_of(steps: list[tuple[bool, int, str]], username: str = "li") -> list[AccountState]:
    found, epoch, at = [], 0, T0
    for bump, seconds, role in steps:
        epoch += bump
        at += timedelta(seconds=seconds)
        found.append(state(username, epoch=epoch, at=at, roles=(role,)))
    return found


@given(histories, st.randoms(use_true_random=False), st.integers(0, 5))
def test_any_order_and_any_repetition_ends_at_the_newest_snapshot(
    steps: list[tuple[bool, int, str]], shuffle: random.Random, repeats: int
) -> None:
    history = history_of(steps)
    arrivals = history + [shuffle.choice(history) for _ in range(repeats)]
    shuffle.shuffle(arrivals)
    kept: AccountState | None = None
    for snapshot in arrivals:
        kept = merge(kept, snapshot)
    assert kept == history[-1]


@given(histories, histories, st.randoms(use_true_random=False))
def test_latest_keeps_each_accounts_newest_whatever_the_interleaving(
    first: list[tuple[bool, int, str]],
    second: list[tuple[bool, int, str]],
    shuffle: random.Random,
) -> None:
    a, b = history_of(first, "a"), history_of(second, "b")
    arrivals = a + b
    shuffle.shuffle(arrivals)
    assert latest(arrivals) == {"a": a[-1], "b": b[-1]}


@given(histories)
def test_an_older_snapshot_arriving_after_a_newer_one_changes_nothing(
    steps: list[tuple[bool, int, str]],
) -> None:
    history = history_of(steps)
    newest = history[-1]
    for older in history:
        assert merge(newest, older) == newest


def test_a_newer_epoch_wins_even_with_an_earlier_clock() -> None:
    """The epoch orders changes that matter; a clock that went back must not undo a
    revocation."""
    disabled = state(epoch=2, at=T0 - timedelta(minutes=5), disabled=True)
    assert merge(state(epoch=1, at=T0), disabled) == disabled


def test_which_tokens_an_account_admits() -> None:
    assert refusal(None, token_version=0) == UNKNOWN
    assert refusal(state(disabled=True), token_version=0) == UNKNOWN
    assert refusal(state(epoch=3), token_version=2) == REVOKED
    assert refusal(state(epoch=3), token_version=-1) == REVOKED  # `ver` not a number
    assert refusal(state(epoch=3), token_version=3) is None
    # Newer than what this service has heard of yet: the change is on its way.
    assert refusal(state(epoch=3), token_version=4) is None
    # An external issuer's token has no epoch of ours; the account must still exist.
    assert refusal(state(epoch=3), token_version=None) is None
    assert refusal(state(epoch=3, disabled=True), token_version=None) == UNKNOWN
