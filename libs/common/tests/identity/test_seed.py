"""Seeding: `admin` as the district's system administrator (also when it comes from the first
issuer, whose only role was "admin"), and the demo's accounts, idempotently."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from riskwatch.common.identity.models import Account
from riskwatch.common.identity.module import MIGRATIONS
from riskwatch.common.identity.passwords import shared_hashing
from riskwatch.common.identity.policy import check_password
from riskwatch.common.identity.service import ensure_admin, seed_accounts
from riskwatch.common.migrate import upgrade
from riskwatch.common.testing import engine_for, rolled_back_session

from .conftest import Issuer, login, unique

FIRST_REVISION = "5723d75f55ee"


async def test_the_migration_keeps_the_first_issuers_accounts(
    make_database: Callable[[str], str],
) -> None:
    url = make_database("identity_old")
    await asyncio.to_thread(upgrade, MIGRATIONS, url, FIRST_REVISION)
    engine = engine_for(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO identity.account (username, password_hash, display_name, roles, "
                    "active) VALUES ('admin', 'h', 'Administrator', '{admin}', true), "
                    "('gone', 'h', 'Gone', '{}', false)"
                )
            )
        await asyncio.to_thread(upgrade, MIGRATIONS, url)
        async with engine.connect() as conn:
            rows = {
                r.username: r
                for r in await conn.execute(
                    select(
                        Account.username,
                        Account.roles,
                        Account.scope,
                        Account.disabled,
                        Account.must_change_password,
                        Account.session_epoch,
                    )
                )
            }
        assert rows["admin"].roles == ["system_admin"]
        assert (rows["admin"].scope, rows["admin"].disabled) == ("district", False)
        assert rows["gone"].disabled is True
        assert rows["gone"].must_change_password is False
        assert rows["gone"].session_epoch == 0
    finally:
        await engine.dispose()


async def test_ensure_admin_makes_admin_a_district_system_admin(engine: AsyncEngine) -> None:
    hashing = shared_hashing()
    async with rolled_back_session(engine) as session:
        await session.execute(text("DELETE FROM identity.account WHERE username = 'admin'"))
        generated = await ensure_admin(session, password=None, hashing=hashing)
        assert generated is not None
        assert check_password(generated, username="admin") == []
        admin = await session.get(Account, "admin")
        assert admin is not None
        assert (admin.roles, admin.scope, admin.must_change_password) == (
            ["system_admin"],
            "district",
            False,
        )

        # An admin of the first issuer: role "admin", and someone narrowed its scope.
        admin.roles = ["admin", "audit_admin"]
        admin.scope = "town:lujiazui"
        admin.town_id = "lujiazui"
        await session.flush()
        assert await ensure_admin(session, password=generated, hashing=hashing) is None
        await session.refresh(admin)
        assert admin.roles == ["system_admin", "audit_admin"]
        assert admin.scope == "district"
        assert admin.town_id is None
        epoch = admin.session_epoch
        assert epoch == 1

        # The same password again changes nothing; another one resets it.
        await ensure_admin(session, password=generated, hashing=hashing)
        await session.refresh(admin)
        assert admin.session_epoch == epoch
        await ensure_admin(session, password="Another-Root-Secret-9", hashing=hashing)
        await session.refresh(admin)
        assert admin.session_epoch == epoch + 1
        assert await hashing.verify(admin.password_hash, "Another-Root-Secret-9")


async def test_seed_accounts_creates_the_missing_and_never_changes_the_existing(
    engine: AsyncEngine, issuer: Issuer
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    handler, leader = unique("demo-handler"), unique("demo-leader")
    accounts = [
        {
            "username": handler,
            "display_name": "演示 处置员",
            "password": "Demo-Handler-2026",
            "roles": ["handler"],
            "scope": "village:lujiazui-meiyuan",
        },
        {
            "username": leader,
            "display_name": "演示 领导",
            "password": "Demo-Leader-2026",
            "roles": ["leader"],
            "scope": "district",
            "phone": "13900139000",
        },
    ]
    assert sorted(await seed_accounts(sessions, accounts)) == sorted([handler, leader])
    changed = [{**accounts[0], "password": "Something-Else-77", "roles": ["leader"]}]
    assert await seed_accounts(sessions, changed) == []

    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(Account.roles, Account.town_id, Account.village_id).where(
                    Account.username == handler
                )
            )
        ).one()
    assert tuple(row) == (["handler"], "lujiazui", "lujiazui-meiyuan")
    client = await issuer.client()
    assert (await login(client, handler, "Demo-Handler-2026")).status_code == 200  # no change
    assert (await login(client, handler, "Something-Else-77")).status_code == 401

    with pytest.raises(ValueError, match="unknown role"):
        await seed_accounts(sessions, [{**accounts[0], "roles": ["root"]}])
    with pytest.raises(ValueError, match="Unknown town"):
        await seed_accounts(sessions, [{**accounts[0], "scope": "town:atlantis"}])
