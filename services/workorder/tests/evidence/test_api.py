"""Evidence over HTTP (httpx ASGITransport) on real PostgreSQL, with the local store: a real
PNG goes up, is listed, comes back with the same SHA-256; too large is 413, a text file named
.png is 415; another town's order does not exist (404), and inside the scope only the
assignee (or the unit's duty staff: `workorders.access.ensure_can_act`) may add evidence (403)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.bus import MemoryBus, record_for
from riskwatch.common.events.base import Level
from riskwatch.common.events.topics import ALARMS
from riskwatch.common.settings import DatabaseSettings
from riskwatch.common.testing import account_bearer, app_client, engine_for, eventually, migrate
from riskwatch.workorder.app import create_app
from riskwatch.workorder.evidence.service import photo_count
from riskwatch.workorder.evidence.settings import EvidenceSettings
from riskwatch.workorder.module import MIGRATIONS
from riskwatch.workorder.settings import WorkOrderSettings

from .. import factories as f
from .files import PDF, png

Json = dict[str, object]
MAX_BYTES = 64 * 1024
HANDLER = "handler.li"  # business_admin, district: the assignee of the orders below


@pytest.fixture(scope="module")
async def evidence_db(make_database: Callable[[str], str]) -> str:
    """Its own database: the app commits for real."""
    url = make_database("workorder_evidence")
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture
async def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
def settings(evidence_db: str, tmp_path: Path) -> WorkOrderSettings:
    return WorkOrderSettings(
        bus="memory",
        database=DatabaseSettings(url=evidence_db),
        outbox_poll_interval_s=0.05,
        data_dir=tmp_path,
        evidence=EvidenceSettings(max_bytes=MAX_BYTES),
    )


@pytest.fixture
async def app_and_client(
    settings: WorkOrderSettings, bus: MemoryBus
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings, bus=bus)
    async with app_client(app) as c:
        c.headers.update(await account_bearer(app, settings.auth, subject=HANDLER))
        yield app, c


@pytest.fixture
def client(app_and_client: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return app_and_client[1]


async def as_account(
    app_and_client: tuple[FastAPI, httpx.AsyncClient],
    settings: WorkOrderSettings,
    subject: str,
    *,
    roles: tuple[str, ...],
    scope: str,
) -> dict[str, str]:
    app = app_and_client[0]
    return await account_bearer(app, settings.auth, subject=subject, roles=roles, scope=scope)


async def execute(url: str, sql: str, **params: object) -> None:
    engine = engine_for(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(sql), params)
    finally:
        await engine.dispose()


async def order_for(
    client: httpx.AsyncClient, bus: MemoryBus, db: str, *, assignee: str | None = HANDLER
) -> str:
    """A work order of a Lujiazui alarm (opened by the alarms consumer), given to `assignee`
    (what dispatching does; set here directly so these tests need no dispatch step)."""
    alarm = f.alarm(Level.ORANGE)
    await bus.publish([record_for(ALARMS, f.raised(alarm))])

    async def opened() -> str | None:
        page = (await client.get("/api/v1/workorders", params={"alarm_id": alarm.alarm_id})).json()
        return str(page["items"][0]["work_order_id"]) if page["items"] else None

    work_order_id = await eventually(opened)
    assert work_order_id is not None
    await execute(
        db,
        "UPDATE workorder.work_order SET assignee = :who WHERE work_order_id = :id",
        who=assignee,
        id=work_order_id,
    )
    return work_order_id


async def upload(
    client: httpx.AsyncClient,
    work_order_id: str,
    data: bytes,
    *,
    filename: str = "valve.png",
    content_type: str = "image/png",
    kind: str = "photo",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        f"/api/v1/workorders/{work_order_id}/attachments",
        files={"file": (filename, data, content_type)},
        data={"kind": kind},
        headers=headers,
    )


async def test_a_photo_goes_up_is_listed_and_comes_back_unchanged(
    client: httpx.AsyncClient, bus: MemoryBus, evidence_db: str, settings: WorkOrderSettings
) -> None:
    work_order_id = await order_for(client, bus, evidence_db)
    photo = png(4, 3)
    sent = await upload(client, work_order_id, photo)
    assert sent.status_code == 201, sent.text
    body = sent.json()
    digest = hashlib.sha256(photo).hexdigest()
    assert (body["kind"], body["content_type"], body["size"], body["sha256"]) == (
        "photo",
        "image/png",
        len(photo),
        digest,
    )
    assert (body["filename"], body["uploaded_by"]) == ("valve.png", HANDLER)
    document = await upload(
        client,
        work_order_id,
        PDF,
        filename="C:\\reports\\处置报告.pdf",
        content_type="application/octet-stream",  # the client's header does not decide
        kind="document",
    )
    assert document.status_code == 201, document.text
    assert (document.json()["content_type"], document.json()["filename"]) == (
        "application/pdf",
        "处置报告.pdf",
    )

    listed = await client.get(f"/api/v1/workorders/{work_order_id}/attachments")
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [i["attachment_id"] for i in items] == [
        body["attachment_id"],
        document.json()["attachment_id"],
    ]

    got = await client.get(
        f"/api/v1/workorders/{work_order_id}/attachments/{body['attachment_id']}"
    )
    assert got.status_code == 200
    assert got.content == photo
    assert hashlib.sha256(got.content).hexdigest() == digest
    assert got.headers["content-type"] == "image/png"
    assert got.headers["repr-digest"] == (
        f"sha-256=:{base64.b64encode(bytes.fromhex(digest)).decode()}:"
    )
    assert got.headers["content-disposition"].startswith("attachment;")
    pdf = await client.get(
        f"/api/v1/workorders/{work_order_id}/attachments/{document.json()['attachment_id']}"
    )
    assert (
        "filename*=UTF-8''%E5%A4%84%E7%BD%AE%E6%8A%A5%E5%91%8A.pdf"
        in (pdf.headers["content-disposition"])
    )

    # The closure check counts photos, not documents.
    engine = engine_for(evidence_db)
    try:
        async with engine.connect() as conn, AsyncSession(bind=conn) as session:
            assert await photo_count(session, work_order_id) == 1
            assert await photo_count(session, "no-such-order") == 0
    finally:
        await engine.dispose()
    # Stored under the service's data directory by default.
    assert (settings.data_dir / "evidence" / "workorders" / work_order_id).is_dir()


async def test_too_large_is_413(
    client: httpx.AsyncClient, bus: MemoryBus, evidence_db: str
) -> None:
    work_order_id = await order_for(client, bus, evidence_db)
    large = png(padding=MAX_BYTES)
    answer = await upload(client, work_order_id, large)
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"].endswith("/content-too-large")
    assert problem["max_bytes"] == MAX_BYTES
    just_right = png(padding=MAX_BYTES - len(png()) - 12)  # 12: the padding chunk's framing
    assert len(just_right) == MAX_BYTES
    assert (await upload(client, work_order_id, just_right)).status_code == 201
    listed = await client.get(f"/api/v1/workorders/{work_order_id}/attachments")
    assert [i["size"] for i in listed.json()["items"]] == [MAX_BYTES]


@pytest.mark.parametrize(
    ("data", "filename", "content_type", "kind"),
    [
        (b"just some text, not a picture", "photo.png", "image/png", "photo"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>", "x.png", "image/png", "photo"),
        (PDF, "report.png", "image/png", "photo"),  # a real PDF, but a photo must be an image
        (b"MZ\x90\x00 an executable", "report.pdf", "application/pdf", "document"),
    ],
)
async def test_the_type_is_judged_by_content_415(
    client: httpx.AsyncClient,
    bus: MemoryBus,
    evidence_db: str,
    data: bytes,
    filename: str,
    content_type: str,
    kind: str,
) -> None:
    work_order_id = await order_for(client, bus, evidence_db)
    answer = await upload(
        client, work_order_id, data, filename=filename, content_type=content_type, kind=kind
    )
    assert answer.status_code == 415
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/unsupported-media-type")
    listed = await client.get(f"/api/v1/workorders/{work_order_id}/attachments")
    assert listed.json()["items"] == []


async def test_bad_kind_and_empty_file_are_422(
    client: httpx.AsyncClient, bus: MemoryBus, evidence_db: str
) -> None:
    work_order_id = await order_for(client, bus, evidence_db)
    assert (await upload(client, work_order_id, png(), kind="selfie")).status_code == 422
    assert (await upload(client, work_order_id, b"")).status_code == 422


async def test_another_towns_order_does_not_exist_for_the_caller(
    app_and_client: tuple[FastAPI, httpx.AsyncClient],
    bus: MemoryBus,
    evidence_db: str,
    settings: WorkOrderSettings,
) -> None:
    client = app_and_client[1]
    work_order_id = await order_for(client, bus, evidence_db)  # in Lujiazui
    photo = (await upload(client, work_order_id, png())).json()
    elsewhere = await as_account(
        app_and_client, settings, "handler.zhang", roles=("handler",), scope="town:zhangjiang"
    )
    base = f"/api/v1/workorders/{work_order_id}/attachments"
    answers = [
        await client.get(base, headers=elsewhere),
        await client.get(f"{base}/{photo['attachment_id']}", headers=elsewhere),
        await upload(client, work_order_id, png(), headers=elsewhere),
    ]
    assert [a.status_code for a in answers] == [404, 404, 404]


async def test_inside_the_scope_only_the_assignee_adds_evidence(
    app_and_client: tuple[FastAPI, httpx.AsyncClient],
    bus: MemoryBus,
    evidence_db: str,
    settings: WorkOrderSettings,
) -> None:
    """Depends on `riskwatch.workorder.workorders.access.ensure_can_act`."""
    client = app_and_client[1]
    work_order_id = await order_for(client, bus, evidence_db)  # given to handler.li
    stranger = await as_account(
        app_and_client, settings, "handler.wang", roles=("handler",), scope="town:lujiazui"
    )
    refused = await upload(client, work_order_id, png(), headers=stranger)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/forbidden")
    # Reading is the scope's: the stranger sees the (empty) list.
    listed = await client.get(f"/api/v1/workorders/{work_order_id}/attachments", headers=stranger)
    assert (listed.status_code, listed.json()["items"]) == (200, [])
    # A leader reads everything but acts on nothing (no workorders:act).
    leader = await as_account(
        app_and_client, settings, "leader.zhou", roles=("leader",), scope="district"
    )
    assert (await upload(client, work_order_id, png(), headers=leader)).status_code == 403


async def test_an_attachment_is_found_through_its_own_order_only(
    client: httpx.AsyncClient, bus: MemoryBus, evidence_db: str
) -> None:
    first = await order_for(client, bus, evidence_db)
    second = await order_for(client, bus, evidence_db)
    photo = (await upload(client, first, png())).json()
    wrong = await client.get(f"/api/v1/workorders/{second}/attachments/{photo['attachment_id']}")
    assert wrong.status_code == 404
    missing = await client.get(f"/api/v1/workorders/{first}/attachments/no-such-attachment")
    assert missing.status_code == 404
    assert (await client.get("/api/v1/workorders/no-such-order/attachments")).status_code == 404


async def test_a_closed_order_takes_no_evidence_409(
    client: httpx.AsyncClient, bus: MemoryBus, evidence_db: str
) -> None:
    work_order_id = await order_for(client, bus, evidence_db)
    await execute(
        evidence_db,
        "UPDATE workorder.work_order SET status = 'closed', closed_at = now() "
        "WHERE work_order_id = :id",
        id=work_order_id,
    )
    answer = await upload(client, work_order_id, png())
    assert answer.status_code == 409
    assert answer.json()["type"].endswith("/invalid-state")


async def test_altered_evidence_is_never_served(
    client: httpx.AsyncClient, bus: MemoryBus, evidence_db: str, settings: WorkOrderSettings
) -> None:
    work_order_id = await order_for(client, bus, evidence_db)
    photo = (await upload(client, work_order_id, png())).json()
    path = settings.data_dir / "evidence" / "workorders" / work_order_id / photo["attachment_id"]
    path.write_bytes(png(5, 5))
    answer = await client.get(
        f"/api/v1/workorders/{work_order_id}/attachments/{photo['attachment_id']}"
    )
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/evidence-damaged")
    assert b"\x89PNG" not in answer.content


async def test_every_evidence_route_needs_a_token(client: httpx.AsyncClient) -> None:
    anonymous = {"Authorization": ""}
    base = "/api/v1/workorders/x/attachments"
    answers = [
        await client.get(base, headers=anonymous),
        await client.get(f"{base}/y", headers=anonymous),
        await upload(client, "x", png(), headers=anonymous),
    ]
    assert [a.status_code for a in answers] == [401, 401, 401]


async def test_a_photo_larger_than_the_default_body_limit_goes_up(
    evidence_db: str, bus: MemoryBus, tmp_path: Path
) -> None:
    """The upload route has its own body limit (the evidence limit plus the multipart
    envelope), not the 1 MiB every other route has."""
    settings = WorkOrderSettings(
        bus="memory",
        database=DatabaseSettings(url=evidence_db),
        outbox_poll_interval_s=0.05,
        data_dir=tmp_path,
    )
    app = create_app(settings, bus=bus)
    async with app_client(app) as c:
        c.headers.update(await account_bearer(app, settings.auth, subject=HANDLER))
        work_order_id = await order_for(c, bus, evidence_db)
        photo = png(padding=3 * 1024 * 1024)
        answer = await upload(c, work_order_id, photo)
        assert answer.status_code == 201, answer.json()
        assert answer.json()["size"] == len(photo)
        # Every other route keeps the default limit.
        big = await c.post(
            f"/api/v1/workorders/{work_order_id}/accept",
            content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
            headers={"Content-Type": "application/json"},
        )
        assert big.status_code == 413
