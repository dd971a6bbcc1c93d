"""`riskwatch audit verify`: exit 0 and a summary while the chain holds, exit 1 and the first
problems once a row was altered directly in PostgreSQL; the function and the real command."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.audit.module import MIGRATIONS
from riskwatch.common.audit.store import append
from riskwatch.common.audit.verify import verify_database
from riskwatch.common.testing import engine_for, migrate

from . import factories as f


async def riskwatch(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "riskwatch.embedded.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode()


async def test_verify_fails_after_a_row_is_altered_in_postgresql(
    make_database: Callable[[str], str],
) -> None:
    url = make_database("audit_cli")
    await migrate(url, [MIGRATIONS])
    engine = engine_for(url)
    try:
        async with AsyncSession(engine) as s, s.begin():
            links = await append(s, f.events(3), now=datetime.now(UTC))

        out = io.StringIO()
        assert await verify_database(url, out=out) == 0
        assert out.getvalue() == (
            "audit trail OK: 3 row(s) verified from the genesis; "
            f"next seq 4, head hash {links[-1].hash}\n"
        )
        code, printed = await riskwatch("audit", "verify", env={"RW_DATABASE__URL": url})
        assert (code, printed.splitlines()[-1]) == (0, out.getvalue().strip())

        async with AsyncSession(engine) as s, s.begin():
            await s.execute(text("SET LOCAL session_replication_role = replica"))
            await s.execute(text("UPDATE audit.record SET resource = 'rules/other' WHERE seq = 2"))
    finally:
        await engine.dispose()

    out = io.StringIO()
    assert await verify_database(url, out=out) == 1
    assert out.getvalue().splitlines() == [
        "audit trail BROKEN: 1 problem(s) in 3 row(s) verified from the genesis",
        "  seq 2: altered: the hash does not match the row's content",
    ]
    code, printed = await riskwatch("audit", "verify", "--database-url", url)
    assert code == 1
    assert printed.splitlines()[-2:] == out.getvalue().splitlines()
