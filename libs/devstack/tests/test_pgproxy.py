"""Tests for the PostgreSQL fault proxy: real server, real asyncpg clients."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import asyncpg
import pytest

from riskwatch.devstack._util import free_port
from riskwatch.devstack.pgproxy import CANNOT_CONNECT_NOW, PgFaultProxy, error_response


def _dsn(proxy: PgFaultProxy) -> str:
    return proxy.url("postgres", driver="postgresql")


@pytest.fixture
def proxy(postgres_admin_url: str) -> Iterator[PgFaultProxy]:
    port = urlsplit(postgres_admin_url).port
    assert port is not None
    with PgFaultProxy(port) as started:
        yield started


def test_error_response_is_a_protocol_3_message() -> None:
    message = error_response("57P03", "not now")
    assert message[:1] == b"E"
    assert int.from_bytes(message[1:5], "big") == len(message) - 1
    assert b"C57P03\0" in message
    assert b"Mnot now\0" in message
    assert message.endswith(b"\0\0")


async def test_passes_queries_through(proxy: PgFaultProxy) -> None:
    conn = await asyncpg.connect(_dsn(proxy))
    try:
        assert await conn.fetchval("SELECT 6 * 7") == 42
    finally:
        await conn.close()
    assert proxy.stats.connections == 1


async def test_refusal_drops_connections_and_answers_57p03_until_passing_again(
    proxy: PgFaultProxy,
) -> None:
    held = await asyncpg.connect(_dsn(proxy))
    try:
        assert proxy.refuse() == 1
        with pytest.raises((asyncpg.PostgresConnectionError, ConnectionError, OSError)):
            await held.fetchval("SELECT 1")
    finally:
        held.terminate()

    with pytest.raises(asyncpg.CannotConnectNowError) as info:
        await asyncpg.connect(_dsn(proxy))
    assert info.value.sqlstate == CANNOT_CONNECT_NOW
    assert "not accepting connections" in str(info.value)
    assert proxy.stats.refused == 1

    proxy.pass_through()
    conn = await asyncpg.connect(_dsn(proxy))
    try:
        assert await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()


async def test_server_down_cuts_the_client_connection() -> None:
    with PgFaultProxy(free_port()) as proxy:  # nothing listens upstream
        with pytest.raises((ConnectionError, OSError, asyncpg.PostgresConnectionError)):
            await asyncpg.connect(_dsn(proxy), timeout=10)
        assert proxy.stats.upstream_failures == 1
