"""The services' database role (riskwatch.common.dbroles), as `riskwatch-<service> grant-services`
makes it in a cluster: no superuser, the service schemas' tables to read and write, the audit
trail to read and append to and nothing more; run again, or by several migration Jobs at once,
it changes nothing; it refuses to make the owner of the schemas the services' role."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.audit.models import SCHEMA, SERVICE_ROLE
from riskwatch.common.audit.module import MIGRATIONS
from riskwatch.common.audit.store import append
from riskwatch.common.cli import IDENTITY_MIGRATIONS, SERVICES_URL_ENV
from riskwatch.common.dbroles import grant_services, libpq_url, with_credentials
from riskwatch.common.testing import engine_for, migrate
from riskwatch.devstack.pgserver import PostgresServer, run_sql

from . import factories as f

INSUFFICIENT_PRIVILEGE = "42501"


@dataclass(frozen=True)
class Database:
    owner_url: str
    services_url: str
    role: str


async def grant_command(owner_url: str, services_url: str | None) -> tuple[int, str]:
    """`riskwatch-reporting grant-services`, the command of the cluster's migration Jobs."""
    env = {**os.environ, "RW_DATABASE__URL": owner_url}
    env.pop(SERVICES_URL_ENV, None)
    if services_url is not None:
        env[SERVICES_URL_ENV] = services_url
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "riskwatch.reporting",
        "grant-services",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode()


@pytest.fixture(scope="module")
async def granted(make_database: Callable[[str], str]) -> Database:
    owner_url = make_database("grants")
    # The audit trail and one service schema (the identity schema has an Alembic history).
    await migrate(owner_url, [MIGRATIONS, IDENTITY_MIGRATIONS])
    role = f"svc_{secrets.token_hex(5)}"  # roles belong to the server: one per test database
    services_url = with_credentials(owner_url, user=role, password=secrets.token_urlsafe(16))
    code, out = await grant_command(owner_url, services_url)
    assert (code, out.strip().splitlines()[-1]) == (0, f"granted: role {role}"), out
    return Database(owner_url, services_url, role)


async def test_the_role_logs_in_and_is_no_superuser(granted: Database) -> None:
    conn = await asyncpg.connect(libpq_url(granted.services_url))
    try:
        role = await conn.fetchrow(
            "SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication,"
            " rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        assert role is not None
        assert (role["rolname"], role["rolcanlogin"]) == (granted.role, True)
        assert not any(role[k] for k in ("rolsuper", "rolcreaterole", "rolcreatedb"))
        assert not any(role[k] for k in ("rolreplication", "rolbypassrls"))
        assert await conn.fetchval("SELECT pg_has_role(current_user, $1, 'MEMBER')", SERVICE_ROLE)
    finally:
        await conn.close()


async def test_the_service_schemas_are_read_and_written_but_not_their_history(
    granted: Database,
) -> None:
    conn = await asyncpg.connect(libpq_url(granted.services_url))
    try:
        async with conn.transaction():
            # Its id comes from a sequence (an identity column): the sequence is granted too.
            await conn.execute(
                "INSERT INTO identity.login_failure (kind, key, at) VALUES ('t', 'k', now())"
            )
            await conn.execute("UPDATE identity.login_failure SET key = 'other'")
            await conn.execute("DELETE FROM identity.login_failure")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE identity.alembic_version SET version_num = 'x'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE identity.mine (x int)")
    finally:
        await conn.close()


async def test_the_audit_trail_is_appended_to_and_never_changed(granted: Database) -> None:
    engine = engine_for(granted.services_url)
    try:
        async with AsyncSession(engine) as session, session.begin():
            links = await append(session, f.events(2), now=datetime.now(UTC))
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(libpq_url(granted.services_url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM audit.record") == len(links) == 2
        for sql in (
            "UPDATE audit.record SET actor = 'forged'",
            "DELETE FROM audit.record",
            "TRUNCATE audit.record",
            "ALTER TABLE audit.record DISABLE TRIGGER USER",
            "DELETE FROM audit.checkpoint",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError) as refused:
                await conn.execute(sql)
            assert refused.value.sqlstate == INSUFFICIENT_PRIVILEGE, sql
    finally:
        await conn.close()


async def test_granting_again_and_side_by_side_changes_nothing(granted: Database) -> None:
    # Five migration Jobs grant at about the same time: they take turns on an advisory lock.
    roles = await asyncio.gather(
        *(
            grant_services(
                granted.owner_url,
                granted.services_url,
                audit_role=SERVICE_ROLE,
                audit_schema=SCHEMA,
            )
            for _ in range(5)
        )
    )
    assert roles == [granted.role] * 5
    conn = await asyncpg.connect(libpq_url(granted.owner_url))
    try:
        direct = await conn.fetch(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = $1 AND table_schema = $2",
            granted.role,
            SCHEMA,
        )
        assert direct == []  # the audit trail only through riskwatch_service
    finally:
        await conn.close()


async def test_the_owner_or_a_role_owning_tables_is_refused(granted: Database) -> None:
    owner_as_services = with_credentials(granted.owner_url, user="postgres", password="x")
    with pytest.raises(asyncpg.RaiseError, match="runs the migrations"):
        await grant_services(
            granted.owner_url, owner_as_services, audit_role=SERVICE_ROLE, audit_schema=SCHEMA
        )
    owning = f"own_{secrets.token_hex(5)}"
    conn = await asyncpg.connect(libpq_url(granted.owner_url))
    try:
        await conn.execute(f"CREATE ROLE {owning}; CREATE TABLE public.{owning} (x int)")
        await conn.execute(f"ALTER TABLE public.{owning} OWNER TO {owning}")
    finally:
        await conn.close()
    with pytest.raises(asyncpg.RaiseError, match="owns schemas or tables"):
        await grant_services(
            granted.owner_url,
            with_credentials(granted.owner_url, user=owning, password="x"),
            audit_role=SERVICE_ROLE,
            audit_schema=SCHEMA,
        )


async def test_the_command_wants_the_services_url(granted: Database) -> None:
    code, out = await grant_command(granted.owner_url, None)
    assert code == 2
    assert SERVICES_URL_ENV in out


async def test_an_owner_that_is_no_superuser_will_do() -> None:
    """A managed database's owner: CREATEROLE and CREATEDB, no superuser. Its own cluster, as
    roles belong to the server and the session's already has `riskwatch_service`."""
    data_dir = Path(tempfile.mkdtemp(prefix="rw-grants-"))
    server = PostgresServer(data_dir / "pg", fast=True)
    try:
        await asyncio.to_thread(server.start)
        admin = server.url(driver="postgresql")
        run_sql(admin, "CREATE ROLE dbowner LOGIN CREATEROLE CREATEDB")
        run_sql(admin, "CREATE DATABASE app OWNER dbowner")
        owner_url = server.url("app").replace("//postgres@", "//dbowner@")  # 127.0.0.1 trusted
        await migrate(owner_url, [MIGRATIONS, IDENTITY_MIGRATIONS])
        services_url = with_credentials(owner_url, user="riskwatch", password="secret")
        for _ in range(2):
            await grant_services(
                owner_url, services_url, audit_role=SERVICE_ROLE, audit_schema=SCHEMA
            )
        conn = await asyncpg.connect(libpq_url(services_url))
        try:
            assert await conn.fetchval(
                "SELECT pg_has_role(current_user, $1, 'MEMBER')", SERVICE_ROLE
            )
            await conn.execute(
                "INSERT INTO identity.login_failure (kind, key, at) VALUES ('t', 'k', now())"
            )
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("DELETE FROM audit.record")
        finally:
            await conn.close()
    finally:
        server.stop(mode="immediate")
        shutil.rmtree(data_dir, ignore_errors=True)
