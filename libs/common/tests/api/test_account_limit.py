"""The limit per account counts the caller that the token's verification gave, never what a
token merely claims: a forged token for someone is refused without costing them a request.
Machine accounts (role gateway) have a limit of their own, high enough for the readings
target; a router with an open route (logging in) is limited per address only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from riskwatch.common.app import Named, Runtime, build_app
from riskwatch.common.auth import PrincipalDep
from riskwatch.common.bus import TopicSpec
from riskwatch.common.edge import every_route_authenticates, rate
from riskwatch.common.errors import PROBLEM_JSON
from riskwatch.common.settings import HttpSettings, ServiceSettings
from riskwatch.common.testing import TokenClaims, bearer

guarded = APIRouter(prefix="/api/v1/things")


@guarded.get("")
async def list_things(caller: PrincipalDep) -> dict[str, str]:
    return {"caller": caller.subject}


mixed = APIRouter(prefix="/api/v1/auth")


@mixed.post("/token")
async def log_in() -> dict[str, str]:
    return {}


@mixed.get("/me")
async def me(caller: PrincipalDep) -> dict[str, str]:
    return {"caller": caller.subject}


class Module:
    name = "things"
    migrations_dir: Path | None = None

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings

    def routers(self) -> Sequence[APIRouter]:
        return [guarded, mixed]

    def topics(self, runtime: Runtime) -> Sequence[TopicSpec]:
        return []

    async def components(self, runtime: Runtime) -> Sequence[Named]:
        return []


SETTINGS = ServiceSettings(
    http=HttpSettings(
        rate_per_account="3/minute", rate_per_gateway="6/minute", rate_per_address="off"
    )
)


def make_app() -> FastAPI:
    # Not started; accounts as the tokens claim them (no projection to ask).
    return build_app(
        title="things", settings=SETTINGS, modules=[Module(SETTINGS)], accounts=TokenClaims()
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def person(name: str) -> dict[str, str]:
    return bearer(SETTINGS.auth, name, roles=("business_admin",))


async def test_an_account_gets_429_past_its_limit_and_others_do_not(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(3):
        assert (await client.get("/api/v1/things", headers=person("alice"))).status_code == 200
    refused = await client.get("/api/v1/things", headers=person("alice"))
    assert refused.status_code == 429
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert refused.json()["type"].endswith("/account-rate-limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert (await client.get("/api/v1/things", headers=person("bob"))).status_code == 200


async def test_a_forged_token_costs_its_subject_nothing(client: httpx.AsyncClient) -> None:
    real = person("carol")["Authorization"]
    header, payload, _ = real.removeprefix("Bearer ").split(".")
    forged = {"Authorization": f"Bearer {header}.{payload}.bm90LXRoZS1zaWduYXR1cmU"}
    for _ in range(10):
        assert (await client.get("/api/v1/things", headers=forged)).status_code == 401
    for _ in range(3):
        assert (await client.get("/api/v1/things", headers=person("carol"))).status_code == 200


async def test_gateways_have_their_own_higher_limit(client: httpx.AsyncClient) -> None:
    gateway = bearer(SETTINGS.auth, "gw-pudong-1", roles=("gateway",))
    for _ in range(6):
        assert (await client.get("/api/v1/things", headers=gateway)).status_code == 200
    assert (await client.get("/api/v1/things", headers=gateway)).status_code == 429


async def test_a_router_with_an_open_route_is_not_limited_per_account(
    client: httpx.AsyncClient,
) -> None:
    assert every_route_authenticates(guarded)
    assert not every_route_authenticates(mixed)
    for _ in range(5):
        assert (await client.get("/api/v1/auth/me", headers=person("dave"))).status_code == 200
        assert (await client.post("/api/v1/auth/token")).status_code == 200


def test_the_default_gateway_limit_carries_the_readings_target() -> None:
    """30,000 readings/s in the bench's batches of 500, from one gateway account, is 3,600
    batches a minute: the default limit of a gateway must be above it (ADR 0010's budgets and
    ingest's admission are what meter readings)."""
    item = rate(HttpSettings().rate_per_gateway)
    assert item is not None
    per_minute = item.amount * 60 / item.get_expiry()
    assert per_minute * 500 / 60 >= 30_000
