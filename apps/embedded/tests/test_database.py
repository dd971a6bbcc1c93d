"""The embedded platform's PostgreSQL: no connection without its password, the services on a
role that is no superuser and cannot change the audit trail, the platform working on it, the
secrets only their owner's, and a data dir of an earlier version (trusting every local
connection) switched over to passwords with its data kept."""

from __future__ import annotations

import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from riskwatch.common.testing import app_client, eventually, migrate
from riskwatch.devstack.pgserver import PostgresServer, trusts_anyone
from riskwatch.embedded.database import (
    DATABASE,
    SERVICES_PASSWORD_FILE,
    SUPERUSER_PASSWORD_FILE,
    grant_services,
    postgres_server,
)
from riskwatch.embedded.platform import create_platform, migration_dirs
from riskwatch.embedded.settings import EmbeddedSettings

ADMIN_PASSWORD = "Correct-Horse-Battery-9"

# What a denied privilege raises: SQLSTATE 42501.
Denied = asyncpg.InsufficientPrivilegeError


@dataclass(frozen=True)
class Platform:
    data_dir: Path
    server: PostgresServer
    owner_url: str  # the superuser: migrations, the audit trail's partitions
    services_url: str  # the services' role


def libpq(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    # mkdtemp, not tmp_path: the unprivileged postgres user must traverse the path (as root).
    data_dir = Path(tempfile.mkdtemp(prefix="rw-embedded-db-"))
    data_dir.chmod(0o700)  # as `riskwatch run` makes it
    server = postgres_server(data_dir)
    try:
        server.start()
        server.create_database(DATABASE)
        owner_url = server.url(DATABASE)
        yield Platform(data_dir, server, owner_url, "")
    finally:
        server.stop(mode="immediate")
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
async def migrated(platform: Platform) -> Platform:
    await migrate(platform.owner_url, migration_dirs())
    services_url = grant_services(platform.server, platform.data_dir)
    return Platform(platform.data_dir, platform.server, platform.owner_url, services_url)


async def test_no_connection_without_its_password(platform: Platform) -> None:
    port = platform.server.port
    for user, password in (
        ("postgres", None),
        ("postgres", "guessed"),
        ("riskwatch", None),
        ("embedded_postgres", None),
    ):
        with pytest.raises(
            (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)
        ):
            await asyncpg.connect(
                host="127.0.0.1", port=port, user=user, password=password, database=DATABASE
            )
    hba = (platform.server.data_dir / "pg_hba.conf").read_text()
    assert not trusts_anyone(hba)
    conn = await asyncpg.connect(libpq(platform.owner_url))
    try:
        assert await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    finally:
        await conn.close()


async def test_the_secrets_and_the_data_dir_are_their_owners_alone(migrated: Platform) -> None:
    for name in (SUPERUSER_PASSWORD_FILE, SERVICES_PASSWORD_FILE):
        assert stat.S_IMODE((migrated.data_dir / name).stat().st_mode) == 0o600, name
    # No one else may read or write it; as root, the postgres system user may pass through.
    assert stat.S_IMODE(migrated.data_dir.stat().st_mode) & 0o066 == 0


async def test_the_services_role_is_no_superuser(migrated: Platform) -> None:
    conn = await asyncpg.connect(libpq(migrated.services_url))
    try:
        role = await conn.fetchrow(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname = current_user"
        )
        assert role is not None
        assert not any(role.values())
        with pytest.raises(Denied):  # a superuser could run a shell command like this
            await conn.execute("COPY (SELECT 1) TO PROGRAM 'true'")
        with pytest.raises(Denied):
            await conn.execute("CREATE SCHEMA mine")
        with pytest.raises(Denied):
            await conn.execute("UPDATE ingest.alembic_version SET version_num = 'x'")
        # ... yet it does the services' work: read and write their tables.
        await conn.execute(
            "INSERT INTO ingest.processed_event (consumer_group, event_id) VALUES ('t', 'e')"
        )
        await conn.execute("UPDATE ingest.processed_event SET event_id = 'f'")
        assert await conn.fetchval("SELECT event_id FROM ingest.processed_event") == "f"
        await conn.execute("DELETE FROM ingest.processed_event")
    finally:
        await conn.close()


async def test_the_services_cannot_change_the_audit_trail(migrated: Platform) -> None:
    conn = await asyncpg.connect(libpq(migrated.services_url))
    try:
        await conn.fetchval("SELECT count(*) FROM audit.record")  # reading is allowed
        partition = await conn.fetchval(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'audit.record'::regclass ORDER BY 1 LIMIT 1"
        )
        for table, column in (
            ("audit.record", "actor"),
            (f"audit.{partition}", "actor"),
            ("audit.checkpoint", "prev_hash"),
        ):
            with pytest.raises(Denied):
                await conn.execute(f"UPDATE {table} SET {column} = 'forged'")  # noqa: S608
            with pytest.raises(Denied):
                await conn.execute(f"DELETE FROM {table}")  # noqa: S608
            with pytest.raises(Denied):
                await conn.execute(f"TRUNCATE {table}")
        with pytest.raises(Denied):
            await conn.execute("ALTER TABLE audit.record DISABLE TRIGGER USER")
    finally:
        await conn.close()


async def test_the_platform_works_as_the_services_role(migrated: Platform) -> None:
    settings = EmbeddedSettings(
        data_dir=migrated.data_dir, feed=False, admin_password=ADMIN_PASSWORD
    )
    app = create_platform(settings, migrated.services_url, owner_url=migrated.owner_url)
    owner = await asyncpg.connect(libpq(migrated.owner_url))
    try:
        before = await owner.fetchval("SELECT count(*) FROM audit.record")
        async with app_client(app) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text  # every component runs, housekeeping too
            login = await client.post(
                "/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
            )
            assert login.status_code == 200, login.text
            admin = {"Authorization": f"Bearer {login.json()['access_token']}"}

            async def listed() -> bool:  # once admin's account has reached every service
                response = await client.get("/api/v1/accounts", headers=admin)
                return response.status_code == 200

            await eventually(listed)

            async def recorded() -> int:  # appended by the audit consumer, as the services
                count: int = await owner.fetchval("SELECT count(*) FROM audit.record")
                return count if count > before else 0

            await eventually(recorded, timeout=30)

            async def partitions_made() -> bool:  # housekeeping, as the owner: months ahead
                made: int = await owner.fetchval(
                    "SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit.record'::regclass"
                )
                return made >= 3  # the migration made this month's and the next

            await eventually(partitions_made, timeout=30)
            assert (await client.get("/livez")).status_code == 200
    finally:
        await owner.close()


async def test_a_data_dir_that_trusted_everyone_is_switched_to_passwords() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="rw-embedded-old-"))
    old = PostgresServer(data_dir / "pg")  # as versions before passwords made it
    try:
        old.start()
        old.create_database(DATABASE)
        conn = await asyncpg.connect(libpq(old.url(DATABASE)))  # no password: trusted
        await conn.execute("CREATE TABLE kept (note text); INSERT INTO kept VALUES ('mine')")
        await conn.close()
        old.stop()
        assert trusts_anyone((data_dir / "pg" / "pg_hba.conf").read_text())

        server = postgres_server(data_dir)
        server.start()
        assert not trusts_anyone((data_dir / "pg" / "pg_hba.conf").read_text())
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(libpq(old.url(DATABASE)))
        conn = await asyncpg.connect(libpq(server.url(DATABASE)))
        try:
            assert await conn.fetchval("SELECT note FROM kept") == "mine"
        finally:
            await conn.close()
        server.stop()
        # Started again: already switched, and still opened by its password.
        server.start()
        conn = await asyncpg.connect(libpq(server.url(DATABASE)))
        await conn.close()
    finally:
        PostgresServer(data_dir / "pg").stop(mode="immediate")
        shutil.rmtree(data_dir, ignore_errors=True)
