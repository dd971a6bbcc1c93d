"""OWASP API4:2023, Unrestricted Resource Consumption: requests whose size, number or cost the
API does not bound (huge pages, huge bodies, bodies read before the caller is known, floods from
one address or one account, passwords long enough to make hashing expensive).

RiskWatch answers at the edge (ADR 0016): a bearer token is required on /api/v1 before a byte of
the body is read; a body limit per route (413 problem, from Content-Length or as soon as the
bytes pass it); limits per client address (before authentication) and per verified account
(429 with Retry-After); and in the routes: pages of at most 500 items, readings batches of at
most RW_MAX_BATCH_ITEMS, bounded lengths for every text (a password at most 256 characters).
This module's platform has small limits so that they are cheap to reach.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from riskwatch.common.pagination import MAX_LIMIT

from .conftest import (
    ADMIN_PASSWORD,
    DEMO_PASSWORD,
    Everyone,
    Platform,
    assert_problem,
    login,
    open_everyone,
    token,
)

pytestmark = [pytest.mark.postgres]

BODY_LIMIT = 4096
PER_ADDRESS = 60
PER_ACCOUNT = 40
MAX_BATCH_ITEMS = 50


@pytest.fixture(scope="module")
def platform_options() -> dict[str, Any]:
    return {
        "http": {
            "max_body_bytes": BODY_LIMIT,
            "rate_per_address": f"{PER_ADDRESS}/minute",
            "rate_per_account": f"{PER_ACCOUNT}/minute",
        }
    }


@pytest.fixture(scope="module")
def platform_env() -> dict[str, str]:
    return {"RW_MAX_BATCH_ITEMS": str(MAX_BATCH_ITEMS)}


@pytest.fixture(scope="module")
async def everyone(platform: Platform) -> Everyone:
    """Tokens holding every permission between them: each list answers one, none 403."""
    client = platform.client("198.51.100.40")
    admin = await login(client, "admin", ADMIN_PASSWORD)
    return await open_everyone(client, admin, "all-roles")


def list_operations(platform: Platform) -> list[str]:
    document = platform.app.openapi()
    found = []
    for path, item in document["paths"].items():
        parameters = item.get("get", {}).get("parameters", [])
        limit = next((p for p in parameters if p["name"] == "limit"), None)
        if limit is not None:
            assert limit["schema"]["maximum"] == MAX_LIMIT, path  # documented, too
            # A list under one object (a duty center's handovers): the demo's district center.
            found.append(path.replace("{duty_center_id}", "district"))
    return found


async def test_every_list_has_a_largest_page(platform: Platform, everyone: Everyone) -> None:
    paths = list_operations(platform)
    assert len(paths) >= 8, paths  # accounts, devices, rules, alarms, orders, notes, duty, audit
    client = platform.client("198.51.100.41")
    for path in paths:
        for too_many in (MAX_LIMIT + 1, 10**9):
            refused = await client.get(
                path, headers=everyone.for_path(path), params={"limit": too_many}
            )
            assert_problem(refused, 422)
        largest = await client.get(
            path, headers=everyone.for_path(path), params={"limit": MAX_LIMIT}
        )
        assert largest.status_code == 200, f"{path}: {largest.text}"


async def test_a_body_over_the_limit_is_413_whether_announced_or_not(
    platform: Platform, everyone: Everyone
) -> None:
    client = platform.client("198.51.100.42")
    rule = {"name": "Gas", "scenario_id": "gas", "metric": "ch4_lel", "red": 50.0}
    big = {**rule, "description": "x" * BODY_LIMIT}
    announced = await client.put("/api/v1/rules/gas-big", json=big, headers=everyone.business)
    assert assert_problem(announced, 413)["max_bytes"] == BODY_LIMIT

    drawn = 0

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        nonlocal drawn
        for _ in range(64):
            drawn += 1
            yield b" " * 1024

    streamed = await client.put(
        "/api/v1/rules/gas-big",
        content=chunks(),
        headers={**everyone.business, "Content-Type": "application/json"},
    )
    assert_problem(streamed, 413)
    assert drawn <= BODY_LIMIT // 1024 + 1  # nothing read beyond the limit
    # Under the limit, the same route takes it.
    made = await client.put("/api/v1/rules/gas-big", json=rule, headers=everyone.business)
    assert made.status_code in (200, 201), made.text


async def test_without_a_token_no_byte_of_a_large_body_is_read(platform: Platform) -> None:
    client = platform.client("198.51.100.43")
    drawn = 0

    async def fifty_megabytes() -> AsyncIterator[bytes]:
        nonlocal drawn
        for _ in range(50):
            drawn += 1
            yield b"[" + b" " * (1024 * 1024 - 1)

    for path in ("/api/v1/readings", "/api/v1/devices/x", "/api/v1/accounts"):
        refused = await client.post(
            path,
            content=fifty_megabytes(),
            headers={"Content-Type": "application/json", "Content-Length": str(50 * 1024**2)},
        )
        assert_problem(refused, 401)
        assert refused.headers["www-authenticate"] == "Bearer"
    assert drawn == 0


async def test_a_readings_batch_has_a_largest_size(platform: Platform) -> None:
    client = platform.client("198.51.100.44")
    sim = await login(client, "simulator", DEMO_PASSWORD)
    device = {"name": "Valve well", "scenario_id": "gas", "town_id": "lujiazui"}
    assert (await client.put("/api/v1/devices/gas-r4", json=device, headers=sim)).is_success
    now = datetime.now(UTC).isoformat()
    reading = {"device_id": "gas-r4", "metric": "ch4_lel", "value": 1.0, "ts": now}
    refused = await client.post(
        "/api/v1/readings", json=[reading] * (MAX_BATCH_ITEMS + 1), headers=sim
    )
    assert assert_problem(refused, 413)["max_items"] == MAX_BATCH_ITEMS
    taken = await client.post("/api/v1/readings", json=[reading] * MAX_BATCH_ITEMS, headers=sim)
    assert taken.status_code == 202, taken.text


async def test_passwords_and_usernames_are_bounded_before_anything_is_hashed(
    platform: Platform,
) -> None:
    client = platform.client("198.51.100.45")
    # Within the body limit, beyond what a field takes: argon2 never sees them.
    long_password = "P" * 3000
    assert_problem(await token(client, "operator", long_password), 422)
    assert_problem(await token(client, "u" * 3000, DEMO_PASSWORD), 422)
    # Not counted as failed logins either: after more than five, the right password works.
    for _ in range(5):
        assert_problem(await token(client, "operator", long_password), 422)
    assert (await token(client, "operator", DEMO_PASSWORD)).status_code == 200


async def test_one_address_gets_a_bounded_number_of_requests_a_minute(
    platform: Platform,
) -> None:
    """Counted before authentication: a flood of requests without a valid token is stopped too,
    and only that address is."""
    flooder = platform.client("198.51.100.46")
    forged = {"Authorization": "Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln"}
    statuses = [
        (await flooder.get("/api/v1/alarms", headers=forged)).status_code
        for _ in range(PER_ADDRESS)
    ]
    assert set(statuses) == {401}
    refused = await flooder.get("/api/v1/alarms", headers=forged)
    body = assert_problem(refused, 429)
    assert body["type"].endswith("/address-rate-limited")
    assert 0 < int(refused.headers["retry-after"]) <= 60
    # The login route too: the same address cannot go on guessing elsewhere.
    assert_problem(await token(flooder, "operator", DEMO_PASSWORD), 429)
    # Probes are never limited; other addresses are served.
    assert (await flooder.get("/livez")).status_code == 200
    other = platform.client("198.51.100.47")
    assert (await other.get("/api/v1/alarms", headers=forged)).status_code == 401


async def test_one_account_gets_a_bounded_number_of_requests_a_minute_from_anywhere(
    platform: Platform,
) -> None:
    """Counted per verified account: moving to other addresses does not reset it."""
    first = platform.client("198.51.100.48")
    leader = await login(first, "leader", DEMO_PASSWORD)
    addresses = [platform.client(f"198.51.100.{n}") for n in (49, 50)]
    half = PER_ACCOUNT // 2
    for client in addresses:
        for _ in range(half):
            answer = await client.get("/api/v1/workorders", headers=leader)
            assert answer.status_code == 200, answer.text
    elsewhere = platform.client("198.51.100.51")
    refused = await elsewhere.get("/api/v1/alarms", headers=leader)
    body = assert_problem(refused, 429)
    assert body["type"].endswith("/account-rate-limited")
    assert int(refused.headers["retry-after"]) > 0
    # Another account from the same address is served.
    operator = await login(elsewhere, "operator", DEMO_PASSWORD)
    assert (await elsewhere.get("/api/v1/alarms", headers=operator)).status_code == 200
