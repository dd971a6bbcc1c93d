"""The in-app live stream for real: the notify app served by uvicorn on 127.0.0.1, read over
HTTP with httpx, rows committed by other connections to a real PostgreSQL. A person's own
notifications arrive, nobody else's; a reconnection with Last-Event-ID gets exactly what it
missed; a transaction that commits late is never skipped; a bad id is a 422; a stream ends
when its client goes or its caller's account is disabled."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import fastapi.routing
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from riskwatch.common.bus import MemoryBus
from riskwatch.common.settings import DatabaseSettings
from riskwatch.common.testing import account_bearer, eventually, grant, migrate
from riskwatch.notify.app import create_app
from riskwatch.notify.module import MIGRATIONS
from riskwatch.notify.notifications.models import Notification
from riskwatch.notify.notifications.stream import (
    BATCH,
    BIGINT_MAX,
    Cursor,
    read_after,
    rows_after,
    start_now,
)
from riskwatch.notify.settings import NotifySettings

STREAM = "/api/v1/notifications/stream"
ROLES = ("handler",)  # a person on duty: reads and acknowledges their notifications


@dataclass
class Served:
    app: FastAPI
    settings: NotifySettings
    url: str
    sessions: async_sessionmaker[AsyncSession]  # committing, on connections of their own


@pytest.fixture(scope="module")
async def stream_db(make_database: Callable[[str], str]) -> str:
    """A database of its own: everything here commits for real."""
    url = make_database("notify_stream")
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture(scope="module")
async def served(stream_db: str) -> AsyncIterator[Served]:
    settings = NotifySettings(
        bus="memory",
        database=DatabaseSettings(url=stream_db),
        outbox_poll_interval_s=0.05,
        stream_poll_s=0.05,
        stream_recheck_s=0.2,
    )
    app = create_app(settings, bus=MemoryBus())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # port 0: the system picks a free one, no race
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        # A stream still open at the end must not hold the shutdown forever.
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    engine = create_async_engine(stream_db)
    try:
        await eventually(lambda: _started(server, task), timeout=60)
        assert not task.done(), "uvicorn stopped at start-up"
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        yield Served(app, settings, f"http://127.0.0.1:{port}", sessions)
    finally:
        server.should_exit = True
        await task
        sock.close()
        await engine.dispose()


async def _started(server: uvicorn.Server, task: asyncio.Task[None]) -> bool:
    return server.started or task.done()


@pytest.fixture
async def client(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.url, timeout=30, trust_env=False) as c:
        yield c


async def person(served: Served, roles: tuple[str, ...] = ROLES) -> tuple[str, dict[str, str]]:
    """A new account of the service (its username is the person id notifications name) and
    the headers of its token."""
    subject = f"p-{uuid.uuid4().hex[:10]}"
    return subject, await account_bearer(served.app, served.settings.auth, subject, roles=roles)


# Rows ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placed:
    notification_id: str
    cursor: Cursor  # the inserting transaction's id and the row's sequence, as the table has it


async def place(session: AsyncSession, person_id: str, *, channel: str = "in_app") -> Placed:
    """Insert a notification in `session`'s transaction (not committed here): a roster notice,
    already delivered, so the app's dispatcher leaves it alone."""
    now = datetime.now(UTC)
    notification_id = str(uuid.uuid4())
    result = await session.execute(
        insert(Notification)
        .values(
            notification_id=notification_id,
            topic="roster",
            duty_center_id="street-lujiazui",
            person_id=person_id,
            channel=channel,
            recipient=person_id if channel == "in_app" else "+8610000000001",
            message=f"Your shifts, notice {notification_id[:8]}",
            status="delivered",
            idempotency_key=f"stream-test:{notification_id}",
            attempts=1,
            next_attempt_at=now,
            created_at=now,
            delivered_at=now,
        )
        .returning(Notification.txid, Notification.seq)
    )
    txid, seq = result.one()
    return Placed(notification_id, Cursor(txid, seq))


async def committed(served: Served, person_id: str, *, channel: str = "in_app") -> Placed:
    async with served.sessions() as session, session.begin():
        return await place(session, person_id, channel=channel)


# Reading the stream --------------------------------------------------------------------------


@dataclass
class Event:
    event: str | None = None
    id: str | None = None
    data: str | None = None
    comments: list[str] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        assert self.data is not None
        loaded: dict[str, Any] = json.loads(self.data)
        return loaded


@dataclass
class Listener:
    """One client of the stream, read in the background into `events` (each comment line is
    an Event with only `comments`), until `close()` drops the connection."""

    status: int | None = None
    content_type: str | None = None
    body: bytes = b""
    events: list[Event] = field(default_factory=list)
    ended: bool = False  # the server ended the stream
    task: asyncio.Task[None] | None = None

    def notifications(self) -> list[Event]:
        return [e for e in self.events if e.event == "notification"]

    def ids(self) -> list[str]:
        return [e.json()["notification_id"] for e in self.notifications()]

    async def read(self, client: httpx.AsyncClient, **request: Any) -> None:
        async with client.stream("GET", STREAM, **request) as response:
            self.status = response.status_code
            self.content_type = response.headers.get("content-type")
            if response.status_code != 200:
                self.body = await response.aread()
                return
            pending = Event()
            async for line in response.aiter_lines():
                if line == "":
                    if pending != Event():
                        self.events.append(pending)
                    pending = Event()
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "":
                    pending.comments.append(value)
                elif name in ("event", "id"):
                    setattr(pending, name, value)
                elif name == "data":
                    pending.data = value if pending.data is None else f"{pending.data}\n{value}"
        self.ended = True

    async def ready(self) -> Event:
        async def seen() -> Event | None:
            assert self.status in (None, 200), self.body  # refused: no use waiting
            return next((e for e in self.events if e.event == "ready"), None)

        found = await eventually(seen)
        assert found is not None
        return found

    async def arrived(self, count: int, served: Served) -> list[Event]:
        """Wait until at least `count` notifications have arrived."""

        async def enough() -> list[Event] | None:
            found = self.notifications()
            return found if len(found) >= count else None

        try:
            found = await eventually(enough)
        except AssertionError as exc:
            held = await writers(served)
            raise AssertionError(f"{exc}; writers holding the horizon: {held}") from exc
        assert found is not None
        return found

    async def close(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@contextlib.asynccontextmanager
async def listening(client: httpx.AsyncClient, **request: Any) -> AsyncIterator[Listener]:
    listener = Listener()
    listener.task = asyncio.create_task(listener.read(client, **request))
    try:
        yield listener
    finally:
        await listener.close()


async def writers(served: Served) -> list[tuple[Any, ...]]:
    """Transactions with an id still running on the server (any database): the stream hands
    out nothing at or above the oldest, so one left open elsewhere stalls these tests."""
    async with served.sessions() as session:
        found = await session.execute(
            text(
                "SELECT pid, datname, state, backend_xid::text, xact_start, left(query, 80)"
                " FROM pg_stat_activity WHERE backend_xid IS NOT NULL ORDER BY xact_start"
            )
        )
        return [tuple(row) for row in found]


def gauge(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def read_twice() -> None:
    """Wait until the one stream open has read twice more: the second read began after this
    call (the first may have begun before)."""
    assert gauge("rw_notification_streams_open") == 1
    reads = gauge("rw_notification_stream_reads_total")

    async def done() -> bool:
        return gauge("rw_notification_stream_reads_total") >= reads + 2

    await eventually(done)
    assert gauge("rw_notification_streams_open") == 1  # those reads were this stream's


async def no_stream_open() -> None:
    """Every stream of earlier tests has ended (the server saw its client go)."""

    async def closed() -> bool:
        return gauge("rw_notification_streams_open") == 0

    await eventually(closed)


# Tests ---------------------------------------------------------------------------------------


async def test_the_callers_own_in_app_notifications_arrive_and_no_one_elses(
    served: Served, client: httpx.AsyncClient
) -> None:
    alice, headers = await person(served)
    bob, _ = await person(served)
    async with listening(client, headers=headers) as stream:
        ready = await stream.ready()
        assert stream.status == 200
        assert stream.content_type is not None
        # The stream, not GET /notifications/{notification_id} with the id "stream".
        assert stream.content_type.startswith("text/event-stream")
        assert ready.id is not None
        assert ready.json() == {"last_event_id": ready.id}

        # Committed one after the other: the stream hands rows out in that order, so had
        # Bob's or the SMS been handed out, they would have come before Alice's.
        await committed(served, bob)
        await committed(served, alice, channel="sms")
        mine = await committed(served, alice)
        [event] = await stream.arrived(1, served)

    assert event.id == str(mine.cursor)
    assert Cursor.parse(ready.id) < mine.cursor
    body = event.json()
    assert body["notification_id"] == mine.notification_id
    assert (body["person_id"], body["channel"], body["topic"]) == (alice, "in_app", "roster")
    assert body["ack_url"] == f"/api/v1/notifications/{mine.notification_id}/ack"
    assert body["status"] == "delivered"
    assert [e.event for e in stream.events if e.event] == ["ready", "notification"]


async def test_a_reconnection_with_last_event_id_gets_exactly_what_it_missed(
    served: Served, client: httpx.AsyncClient
) -> None:
    alice, headers = await person(served)
    async with listening(client, headers=headers) as first:
        await first.ready()
        seen = await committed(served, alice)
        [event] = await first.arrived(1, served)
    assert event.id == str(seen.cursor)
    await no_stream_open()  # the server ended the stream when its client went

    missed = [await committed(served, alice), await committed(served, alice)]
    resumed = {**headers, "Last-Event-ID": event.id}
    async with listening(client, headers=resumed) as second:
        ready = await second.ready()
        assert ready.id == event.id  # it resumes where the client stood
        arrived = await second.arrived(2, served)
        # A notification committed now comes after the missed ones: had anything been handed
        # out twice or out of order, it would show before this one.
        marker = await committed(served, alice)
        arrived = await second.arrived(3, served)
    assert [e.id for e in arrived] == [str(p.cursor) for p in [*missed, marker]]
    assert second.ids() == [p.notification_id for p in [*missed, marker]]

    # A client that cannot set headers names the event in the query.
    async with listening(
        client, headers=headers, params={"last_event_id": str(missed[0].cursor)}
    ) as third:
        await third.arrived(2, served)
        last = await committed(served, alice)
        await third.arrived(3, served)
    assert third.ids() == [p.notification_id for p in [missed[1], marker, last]]


async def test_a_stream_that_saw_nothing_resumes_from_where_it_started(
    served: Served, client: httpx.AsyncClient
) -> None:
    """The `ready` event's id is the starting point: a client that loses the connection before
    any notification misses nothing that committed in between."""
    alice, headers = await person(served)
    async with listening(client, headers=headers) as first:
        ready = await first.ready()
    assert ready.id is not None
    between = await committed(served, alice)
    async with listening(client, headers={**headers, "Last-Event-ID": ready.id}) as second:
        await second.arrived(1, served)
    assert second.ids() == [between.notification_id]


async def test_a_transaction_that_commits_late_is_never_skipped(
    served: Served, client: httpx.AsyncClient
) -> None:
    """A inserts first and commits last; B inserts after A and commits first. While A is open
    the stream holds B's row back (its txid is above A's, the oldest one running); once A
    commits both arrive, A's first. A stream by sequence alone, or by txid without the
    horizon, would hand out B's row and then skip A's."""
    alice, headers = await person(served)
    await no_stream_open()
    async with listening(client, headers=headers) as stream:
        await stream.ready()
        async with served.sessions() as a_session, served.sessions() as b_session:
            a_tx = await a_session.begin()
            a = await place(a_session, alice)
            async with b_session.begin():
                b = await place(b_session, alice)
            assert a.cursor < b.cursor  # A's transaction and sequence come first

            # B's row, committed, is held back.
            await read_twice()
            assert stream.notifications() == []

            await a_tx.commit()
        arrived = await stream.arrived(2, served)
        marker = await committed(served, alice)
        arrived = await stream.arrived(3, served)
    assert [e.id for e in arrived] == [str(a.cursor), str(b.cursor), str(marker.cursor)]
    assert stream.ids() == [a.notification_id, b.notification_id, marker.notification_id]


async def test_the_read_holds_back_rows_above_the_oldest_running_transaction(
    served: Served,
) -> None:
    """The same rule on the read alone (no HTTP): the cursor a read returns never passes a row
    of a transaction still running."""
    alice = f"p-{uuid.uuid4().hex[:10]}"
    start = await start_now(served.sessions)
    async with served.sessions() as a_session, served.sessions() as b_session:
        a_tx = await a_session.begin()
        a = await place(a_session, alice)
        async with b_session.begin():
            b = await place(b_session, alice)
        held = await read_after(served.sessions, person_id=alice, after=start)
        assert held.rows == []
        assert held.cursor < a.cursor < b.cursor
        await a_tx.commit()
    both = await read_after(served.sessions, person_id=alice, after=held.cursor)
    assert [r.notification_id for r in both.rows] == [a.notification_id, b.notification_id]
    assert not both.more
    assert both.cursor > b.cursor  # past everything read, up to the horizon
    again = await read_after(served.sessions, person_id=alice, after=both.cursor)
    assert again.rows == []

    # A full batch says so, and the next read goes on from its last row.
    more = [await committed(served, alice) for _ in range(3)]
    first = await read_after(served.sessions, person_id=alice, after=both.cursor, limit=2)
    assert ([r.notification_id for r in first.rows], first.more) == (
        [p.notification_id for p in more[:2]],
        True,
    )
    assert first.cursor == more[1].cursor
    rest = await read_after(served.sessions, person_id=alice, after=first.cursor, limit=2)
    assert [r.notification_id for r in rest.rows] == [more[2].notification_id]


async def test_a_read_is_an_index_scan_of_the_persons_stream_also_in_a_generic_plan(
    stream_db: str,
) -> None:
    """asyncpg prepares statements, and PostgreSQL plans one generically after five runs: the
    plan must then still be a scan of ix_notification_stream in its order, with no filter and
    no sort (a bound `channel` could not prove the partial index's predicate)."""
    query = rows_after(person_id="p", after=Cursor(2**40, 1), below=2**41, limit=BATCH)
    engine = create_async_engine(stream_db)
    try:
        compiled = query.compile(dialect=engine.dialect)
        args = [compiled.params[name] for name in compiled.positiontup or ()]
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            await raw.execute("SET plan_cache_mode = force_generic_plan")
            await raw.execute("SET enable_seqscan = off")
            await raw.execute(f"PREPARE stream_read AS {compiled}")
            values = ", ".join(f"'{a}'" if isinstance(a, str) else str(a) for a in args)
            explained = await raw.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE stream_read({values})")
            await raw.execute("DEALLOCATE stream_read")
    finally:
        await engine.dispose()
    plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]
    assert plan["Node Type"] == "Limit"
    [scan] = plan["Plans"]
    assert (scan["Node Type"], scan["Index Name"]) == ("Index Scan", "ix_notification_stream")
    assert "Filter" not in scan
    assert "$1" in scan["Index Cond"]  # generic: the values are parameters, not constants


async def test_cursors_beyond_32_bits_are_read(served: Served, client: httpx.AsyncClient) -> None:
    """Transaction ids (with their epoch) and sequences are bigints: a cursor past 2**31 is
    compared as one, not refused by the driver as an int4."""
    far = Cursor(2**40, 2**33)
    batch = await read_after(served.sessions, person_id="nobody", after=far)
    assert (batch.rows, batch.cursor) == ([], far)  # and no horizon moves it back
    _, headers = await person(served)
    largest = str(Cursor(BIGINT_MAX, BIGINT_MAX))
    await no_stream_open()
    async with listening(client, headers={**headers, "Last-Event-ID": largest}) as stream:
        ready = await stream.ready()
        await read_twice()
        assert not stream.ended
    assert ready.id == largest


@pytest.mark.parametrize(
    "bad", ["abc", "1-2-3", "-1-5", "01-2", "99999999999999999999-1", "9223372036854775808-0"]
)
async def test_a_bad_last_event_id_is_a_422_problem(
    served: Served, client: httpx.AsyncClient, bad: str
) -> None:
    _, headers = await person(served)
    for response in (
        await client.get(STREAM, headers={**headers, "Last-Event-ID": bad}),
        await client.get(STREAM, headers=headers, params={"last_event_id": bad}),
    ):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"].endswith("/invalid-last-event-id")
        assert problem["instance"] == STREAM


async def test_hostile_text_in_the_query_is_a_422_problem(
    served: Served, client: httpx.AsyncClient
) -> None:
    """What no header can carry (a NUL, a line break, a terminal escape) may come in the query."""
    _, headers = await person(served)
    for hostile in ("\u0000", "1-\u00002", "1-2\nid: 3-4", "\u001b[2J"):
        response = await client.get(STREAM, headers=headers, params={"last_event_id": hostile})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"


async def test_the_stream_needs_a_token_and_the_permission(
    served: Served, client: httpx.AsyncClient
) -> None:
    unauthenticated = await client.get(STREAM)
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["content-type"] == "application/problem+json"
    _, lead = await person(served, roles=("system_admin",))  # gets no notices
    refused = await client.get(STREAM, headers=lead)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "change", [{"disabled": True}, {"roles": ("system_admin",)}], ids=["disabled", "role-lost"]
)
async def test_the_stream_ends_when_its_caller_may_no_longer_read(
    served: Served, client: httpx.AsyncClient, change: dict[str, Any]
) -> None:
    alice, headers = await person(served)
    async with listening(client, headers=headers) as stream:
        await stream.ready()
        await grant(served.app, alice, **{"roles": ROLES, **change})

        async def ended() -> bool:
            return stream.ended

        await eventually(ended)
        late = await committed(served, alice)
    assert late.notification_id not in stream.ids()


async def test_an_idle_stream_sends_a_comment_to_keep_proxies_from_closing_it(
    served: Served, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FastAPI's keep-alive interval (15 s), shortened: read when a stream has been idle.
    monkeypatch.setattr(fastapi.routing, "_PING_INTERVAL", 0.1)
    _, headers = await person(served)
    async with listening(client, headers=headers) as stream:
        await stream.ready()

        async def pinged() -> bool:
            return any(e.comments == ["ping"] for e in stream.events)

        await eventually(pinged)


async def test_the_technical_staff_read_their_own_notifications_and_no_one_elses(
    served: Served, client: httpx.AsyncClient
) -> None:
    """tech_admin holds notifications:own, not :read (ADR 0021): the list and the single read
    answer its own notices only, whatever it asks for."""
    tech, tech_headers = await person(served, roles=("tech_admin",))
    other, _ = await person(served)
    mine = await committed(served, tech)
    theirs = await committed(served, other)
    listed = await client.get("/api/v1/notifications", headers=tech_headers)
    assert listed.status_code == 200, listed.text
    assert [n["notification_id"] for n in listed.json()["items"]] == [mine.notification_id]
    asked = await client.get(
        "/api/v1/notifications", params={"person_id": other}, headers=tech_headers
    )
    assert asked.status_code == 403
    assert (
        await client.get(f"/api/v1/notifications/{mine.notification_id}", headers=tech_headers)
    ).status_code == 200
    hidden = await client.get(
        f"/api/v1/notifications/{theirs.notification_id}", headers=tech_headers
    )
    assert hidden.status_code == 404
    async with listening(client, headers=tech_headers) as stream:
        await stream.ready()  # and may stream them
