"""Identity publishes an account's snapshot on rw.identity.accounts (ADR 0015): in the
transaction of each account write, only when something a service sees changed, never a
password, phone or name; and at start, once, for an account whose snapshot was never
published."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from riskwatch.common.events.identity import AccountChanged
from riskwatch.common.events.topics import ACCOUNTS
from riskwatch.common.identity.models import Account, outbox
from riskwatch.common.identity.publication import publish_unpublished

from .conftest import Issuer, login, unique
from .test_api import OWN_PASSWORD, account_body, open_account


async def snapshots(engine: AsyncEngine, username: str) -> list[AccountChanged]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(outbox.table.c.value)
            .where(outbox.table.c.topic == ACCOUNTS, outbox.table.c.key == username)
            .order_by(outbox.table.c.id)
        )
        return [AccountChanged.model_validate_json(value) for (value,) in rows]


def fields(event: AccountChanged) -> tuple[Any, ...]:
    return (event.roles, event.scope, event.disabled, event.session_epoch)


async def test_every_account_write_publishes_what_services_check(issuer: Issuer) -> None:
    username = unique("published")
    client = await issuer.client()
    await open_account(issuer, username)  # created, then its owner's own password
    created, chosen = await snapshots(issuer.engine, username)
    assert fields(created) == (["handler"], "town:lujiazui", False, 0)
    assert fields(chosen) == (["handler"], "town:lujiazui", False, 1)
    assert chosen.changed_at >= created.changed_at
    raw = chosen.model_dump_json()
    assert OWN_PASSWORD not in raw
    assert "13800138000" not in raw  # no phone
    assert "display_name" not in raw

    async def patch(body: dict[str, Any]) -> None:
        response = await client.patch(
            f"/api/v1/accounts/{username}", json=body, headers=issuer.headers()
        )
        assert response.status_code == 200, response.text

    await patch({"display_name": "Another name", "phone": None})  # nothing a service sees
    assert len(await snapshots(issuer.engine, username)) == 2
    await patch({"roles": ["leader"], "scope": "town:zhangjiang"})
    await patch({"disabled": True})
    reset = await client.post(
        f"/api/v1/accounts/{username}/password",
        json={"password": account_body(username)["password"]},
        headers=issuer.headers(),
    )
    assert reset.status_code == 200, reset.text
    assert [fields(e) for e in (await snapshots(issuer.engine, username))[2:]] == [
        (["leader"], "town:zhangjiang", False, 2),
        (["leader"], "town:zhangjiang", True, 3),
        (["leader"], "town:zhangjiang", True, 4),
    ]


async def test_failed_logins_and_a_lockout_publish_nothing(issuer: Issuer) -> None:
    username = unique("locked")
    await open_account(issuer, username)
    before = len(await snapshots(issuer.engine, username))
    client = await issuer.client()
    for _ in range(issuer.settings.auth.login_max_failures + 1):
        await login(client, username, "Wrong-Password-99")
    assert len(await snapshots(issuer.engine, username)) == before


async def test_the_start_publishes_each_unpublished_account_once(
    issuer: Issuer, engine: AsyncEngine
) -> None:
    username = unique("legacy")
    await open_account(issuer, username)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    # As a migration or a hand edit leaves it: changed, and never published.
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(
            update(Account)
            .where(Account.username == username)
            .values(roles=["leader"], published_digest=None)
        )
    before = len(await snapshots(issuer.engine, username))
    assert await publish_unpublished(sessions) >= 1
    after = await snapshots(issuer.engine, username)
    assert len(after) == before + 1
    assert after[-1].roles == ["leader"]
    await publish_unpublished(sessions)  # idempotent: nothing new for this account
    assert len(await snapshots(issuer.engine, username)) == before + 1
