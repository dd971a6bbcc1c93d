"""OWASP API6:2023, Unrestricted Access to Sensitive Business Flows: flows that work as designed
one at a time but harm the business when automated: guessing passwords across many addresses
(one account) or across many accounts (one address, "spraying"), through the login or through
the password change, and a sector's gateways flooding the readings path that every sector's
alarms depend on.

RiskWatch answers with a lockout counted per account and per address (five failures within
15 minutes lock either, 429 with Retry-After, recorded in the audit trail; a success clears the
account's count, never the address's), the same count on the password change (which takes no
token), and ingest's per-sector budgets of readings per second (ADR 0010): a sector over its
budget is refused 429 as a whole batch, while the other sectors' readings go on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from riskwatch.common.testing import eventually

from .conftest import DEMO_PASSWORD, PASSWORD, Platform, assert_problem, login, token

pytestmark = [pytest.mark.postgres]

CONSTRUCTION_BUDGET = 20  # readings per second
GUESS = "Guess-Number-0001"


@pytest.fixture(scope="module")
def platform_env() -> dict[str, str]:
    return {"RW_SECTOR_READINGS_PER_S": f'{{"construction": {CONSTRUCTION_BUDGET}}}'}


def address(n: int) -> str:
    return f"198.51.100.{n}"


# Each test guesses at accounts no other test of this module guesses at: counts are per
# account as well as per address.


async def test_guessing_one_accounts_password_from_many_addresses_locks_the_account(
    platform: Platform,
) -> None:
    for n in range(60, 65):  # five addresses, one guess each: no address reaches its limit
        assert_problem(await token(platform.client(address(n)), "leader", GUESS), 401)
    owner = platform.client(address(65))
    locked = assert_problem(await token(owner, "leader", DEMO_PASSWORD), 429)
    assert locked["type"].endswith("/login-locked")
    assert int((await token(owner, "leader", DEMO_PASSWORD)).headers["retry-after"]) > 0


async def test_spraying_many_accounts_from_one_address_locks_the_address(
    platform: Platform,
) -> None:
    sprayer = platform.client(address(70))
    # Names that are accounts and names that are not: both count against the address.
    for username in ("operator", "tech", "no-such-1", "no-such-2", "no-such-3"):
        assert_problem(await token(sprayer, username, GUESS), 401)
    # A sixth account, with its right password: not from this address.
    assert_problem(await token(sprayer, "handler.lujiazui", DEMO_PASSWORD), 429)
    # The accounts themselves are not locked: their owners log in from elsewhere.
    elsewhere = platform.client(address(71))
    for username in ("operator", "handler.lujiazui"):
        assert (await token(elsewhere, username, DEMO_PASSWORD)).status_code == 200


async def test_a_success_does_not_clear_the_addresss_count(platform: Platform) -> None:
    """An attacker who owns one account cannot reset its address's count by logging in to it
    between guesses at others."""
    attacker = platform.client(address(75))
    for username in ("security", "no-such-4", "no-such-5", "no-such-6"):
        assert_problem(await token(attacker, username, GUESS), 401)
    assert (await token(attacker, "simulator", DEMO_PASSWORD)).status_code == 200  # "its own"
    assert_problem(await token(attacker, "no-such-7", GUESS), 401)  # the fifth failure
    assert_problem(await token(attacker, "simulator", DEMO_PASSWORD), 429)


async def test_the_password_change_is_no_way_around_the_lockout(platform: Platform) -> None:
    """It takes no token and proves the current password: guessing through it counts too."""
    guesser = platform.client(address(80))

    async def change(current: str) -> httpx.Response:
        return await guesser.post(
            PASSWORD,
            json={
                "username": "construction-head",
                "current_password": current,
                "new_password": "Brand-New-Pass-9921",
            },
        )

    for n in range(5):
        assert_problem(await change(f"Guess-Number-000{n}"), 401)
    assert_problem(await change(DEMO_PASSWORD), 429)  # the right one, refused while locked
    # Nor does the login route open what the password change locked (the same count).
    assert_problem(await token(platform.client(address(81)), "construction-head", GUESS), 429)


async def test_lockouts_are_in_the_audit_trail(platform: Platform) -> None:
    guesser = platform.client(address(85))
    for _ in range(5):
        assert_problem(await token(guesser, "handler.zhangjiang", GUESS), 401)
    auditor = await login(platform.client(address(86)), "auditor", DEMO_PASSWORD)
    client = platform.client(address(86))

    async def lockout_recorded() -> list[dict[str, Any]] | None:
        page = await client.get(
            "/api/v1/audit",
            headers=auditor,
            params={"action": "auth.lockout", "actor": "handler.zhangjiang"},
        )
        items: list[dict[str, Any]] = page.json()["items"]
        return items or None

    records = await eventually(lockout_recorded)
    assert records[0]["source_address"] == address(85)
    assert records[0]["outcome"] == "failure"


async def test_a_sector_over_its_readings_budget_is_refused_and_the_others_go_on(
    platform: Platform,
) -> None:
    client = platform.client(address(90))
    sim = await login(client, "simulator", DEMO_PASSWORD)
    devices = {
        "gas-budget-1": {"name": "Valve well", "scenario_id": "gas", "town_id": "lujiazui"},
        "flood-budget-1": {"name": "Gauge", "scenario_id": "flood-typhoon", "town_id": "lujiazui"},
    }
    for device_id, body in devices.items():
        put = await client.put(f"/api/v1/devices/{device_id}", json=body, headers=sim)
        assert put.status_code in (200, 201), put.text

    def batch(device_id: str, metric: str, n: int) -> list[dict[str, Any]]:
        now = datetime.now(UTC).isoformat()
        return [{"device_id": device_id, "metric": metric, "value": 1.0, "ts": now}] * n

    within = await client.post(
        "/api/v1/readings", json=batch("gas-budget-1", "ch4_lel", 15), headers=sim
    )
    assert within.status_code == 202, within.text
    over = await client.post(
        "/api/v1/readings", json=batch("gas-budget-1", "ch4_lel", 10), headers=sim
    )
    body = assert_problem(over, 429)
    assert body["type"].endswith("/sector-over-budget")
    assert (body["sector_id"], body["readings_per_s"]) == ("construction", CONSTRUCTION_BUDGET)
    assert int(over.headers["retry-after"]) >= 1
    # Emergency management has no budget here: its gauges are not held up by construction's.
    other = await client.post(
        "/api/v1/readings", json=batch("flood-budget-1", "water_level_m", 50), headers=sim
    )
    assert other.status_code == 202, other.text
