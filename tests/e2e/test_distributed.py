"""End to end in the distributed mode: a real Kafka broker, real PostgreSQL, each of the five
services a separate OS process started with its own console script."""

from __future__ import annotations

import asyncpg
import pytest

from riskwatch.common.testing import eventually
from riskwatch.devstack.supervisor import Stack

from .conftest import urls_of
from .scenario import People, login, run_one_path

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

INSUFFICIENT_PRIVILEGE = "42501"


def libpq(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def test_one_reading_crosses_every_service_to_the_report(
    distributed: tuple[Stack, str],
) -> None:
    stack, password = distributed
    assert len({p.pid for p in stack.processes.values()}) == 5  # five separate processes
    urls = urls_of(stack)
    await run_one_path(urls, await People.login(urls, password))
    for name, process in stack.processes.items():
        assert process.is_alive(), f"{name} died during the scenario"


async def test_the_services_role_appends_to_the_audit_trail_and_cannot_change_it(
    distributed: tuple[Stack, str],
) -> None:
    """The services connect as a role of their own, not the owner of the schemas: the audit
    consumer appends as it, while UPDATE, DELETE and TRUNCATE of a record are refused."""
    stack, password = distributed
    services = await asyncpg.connect(libpq(stack.services_database_url))
    owner = await asyncpg.connect(libpq(stack.database_url))
    try:
        role = await services.fetchrow(
            "SELECT current_user AS name, rolsuper, rolcreaterole, rolcreatedb, rolreplication, "
            "rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        assert role is not None
        assert role["name"] == stack.services_role != "postgres"
        assert not any(value for key, value in role.items() if key != "name")

        before = await services.fetchval("SELECT count(*) FROM audit.record")
        await login(urls_of(stack), password)  # a login is recorded in the trail

        async def appended() -> int:  # by the audit consumer, in reporting, as this role
            count: int = await services.fetchval("SELECT count(*) FROM audit.record")
            return count if count > before else 0

        await eventually(appended, timeout=60)
        for sql in (
            "UPDATE audit.record SET actor = 'forged'",
            "DELETE FROM audit.record",
            "TRUNCATE audit.record",
            "ALTER TABLE audit.record DISABLE TRIGGER USER",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError) as refused:
                await services.execute(sql)
            assert refused.value.sqlstate == INSUFFICIENT_PRIVILEGE, sql
        assert await services.fetchval("SELECT count(*) FROM audit.record") > before

        async def partitions_made() -> bool:  # housekeeping, as the owner: months ahead
            made: int = await owner.fetchval(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit.record'::regclass"
            )
            return made >= 3  # the migration made this month's and the next

        await eventually(partitions_made, timeout=60)
    finally:
        await services.close()
        await owner.close()
