"""Profiles and bulk registration against real PostgreSQL: created, updated, unchanged and
rejected per row, idempotent, a bad row never blocks the others, scopes hold, details that a
client leaves out are kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import Scope
from riskwatch.common.audit.emit import AuditContext
from riskwatch.common.catalog import default_catalog
from riskwatch.common.errors import Forbidden, Invalid, NotFound
from riskwatch.ingest.devices import profiles
from riskwatch.ingest.devices.models import Device
from riskwatch.ingest.devices.schemas import DevicePut, ProfilePut
from riskwatch.ingest.devices.service import bulk_put_devices, put_device
from riskwatch.ingest.models import generations

NOW = datetime(2026, 12, 22, 8, 0, tzinfo=UTC)
GAS = {
    "name": "Gas well",
    "metrics": [
        {
            "metric": "ch4_lel",
            "unit": "%LEL",
            "min": 0,
            "max": 100,
            "precision": 1,
            "interval_s": 60,
        }
    ],
}


def row(device_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "name": f"Well {device_id}",
        "scenario_id": "gas",
        "town_id": "lujiazui",
        **fields,
    }


async def bulk(session: AsyncSession, rows: list[Any], **kwargs: Any) -> list[tuple[Any, ...]]:
    result = await bulk_put_devices(
        session, catalog=default_catalog(), rows=rows, now=kwargs.pop("now", NOW), **kwargs
    )
    assert (result.created, result.updated, result.unchanged, result.rejected) == tuple(
        sum(r.status == s for r in result.results)
        for s in ("created", "updated", "unchanged", "rejected")
    )
    return [(r.row, r.device_id, r.status, r.field) for r in result.results]


async def test_a_profile_is_put_read_and_listed(session: AsyncSession) -> None:
    profile, created = await profiles.put_profile(
        session, profile_id="gas-ch4", data=ProfilePut.model_validate(GAS), now=NOW
    )
    assert created
    assert profile.offline_after_intervals == 3
    assert profile.metrics[0]["interval_s"] == 60
    again, created = await profiles.put_profile(
        session,
        profile_id="gas-ch4",
        data=ProfilePut.model_validate({**GAS, "offline_after_intervals": 5}),
        now=NOW + timedelta(minutes=1),
    )
    assert not created
    assert again.offline_after_intervals == 5
    assert again.created_at == NOW
    assert again.updated_at == NOW + timedelta(minutes=1)
    items, _ = await profiles.list_profiles(session, cursor=None, limit=50)
    assert "gas-ch4" in [p.profile_id for p in items]
    with pytest.raises(NotFound):
        await profiles.get_profile_or_raise(session, profile_id="nope")


async def test_only_the_district_writes_profiles(session: AsyncSession) -> None:
    with pytest.raises(Forbidden):
        await profiles.put_profile(
            session,
            profile_id="gas-town",
            data=ProfilePut.model_validate(GAS),
            now=NOW,
            scope=Scope.parse("town:lujiazui"),
        )


async def test_put_keeps_the_details_an_older_client_leaves_out(session: AsyncSession) -> None:
    await profiles.put_profile(
        session, profile_id="gas-ch4", data=ProfilePut.model_validate(GAS), now=NOW
    )
    full = DevicePut.model_validate(
        {
            "name": "Well 1",
            "scenario_id": "gas",
            "town_id": "lujiazui",
            "profile_id": "gas-ch4",
            "lon": 121.5,
            "lat": 31.23,
            "address": "1 Lujiazui Ring Rd",
            "owner_unit": "street-lujiazui",
            "gateway_id": "dtu-7",
        }
    )
    catalog = default_catalog()
    device, created = await put_device(
        session, catalog=catalog, device_id="gas-p-1", data=full, now=NOW
    )
    assert created
    assert (device.profile_id, device.lon, device.gateway_id) == ("gas-ch4", 121.5, "dtu-7")
    old = DevicePut(name="Well 1 renamed", scenario_id="gas", town_id="lujiazui")
    device, created = await put_device(
        session, catalog=catalog, device_id="gas-p-1", data=old, now=NOW
    )
    assert not created
    assert device.name == "Well 1 renamed"
    assert (device.profile_id, device.lat, device.owner_unit) == (
        "gas-ch4",
        31.23,
        "street-lujiazui",
    )
    cleared = DevicePut.model_validate({**old.model_dump(exclude_unset=True), "gateway_id": None})
    device, _ = await put_device(
        session, catalog=catalog, device_id="gas-p-1", data=cleared, now=NOW
    )
    assert device.gateway_id is None
    assert device.address == "1 Lujiazui Ring Rd"
    with pytest.raises(Invalid) as unknown:
        await put_device(
            session,
            catalog=catalog,
            device_id="gas-p-1",
            data=DevicePut.model_validate(
                {**old.model_dump(exclude_unset=True), "profile_id": "ufo"}
            ),
        )
    assert unknown.value.extensions["field"] == "profile_id"


async def test_bulk_rows_are_created_then_unchanged_then_updated(session: AsyncSession) -> None:
    await profiles.put_profile(
        session, profile_id="gas-ch4", data=ProfilePut.model_validate(GAS), now=NOW
    )
    rows = [row(f"gas-b-{i}", profile_id="gas-ch4", lon=121.5, lat=31.2) for i in range(3)]
    first = await bulk(session, rows)
    assert first == [(n, f"gas-b-{n - 1}", "created", None) for n in (1, 2, 3)]
    before = await generations.current(session, "devices")
    assert [s for _, _, s, _ in await bulk(session, rows)] == ["unchanged"] * 3
    assert await generations.current(session, "devices") == before  # nothing to invalidate
    rows[1] = {**rows[1], "address": "2 Century Ave"}
    later = NOW + timedelta(hours=1)
    third = await bulk(session, rows, now=later)
    assert [s for _, _, s, _ in third] == ["unchanged", "updated", "unchanged"]
    assert await generations.current(session, "devices") != before  # caches see the change
    stored = await session.scalar(
        select(Device)
        .where(Device.device_id == "gas-b-1")
        .execution_options(populate_existing=True)
    )
    assert stored is not None
    assert (stored.address, stored.created_at, stored.updated_at) == ("2 Century Ave", NOW, later)


async def test_a_bad_row_is_rejected_alone_with_its_reason(session: AsyncSession) -> None:
    audit = AuditContext(action="bulk_put_devices")
    rows: list[Any] = [
        row("gas-c-1"),
        row("gas-c-2", scenario_id="ufo"),
        "not a row",
        row("gas-c-3", lon=200, lat=31),
        row("gas-c-4", profile_id="nope"),
        row("gas c 5"),
        row("gas-c-1", name="again"),
        row("gas-c-6", lon=121.5),
        {"device_id": "gas-c-7"},
        row("gas-c-8", village_id="lujiazui-meiyuan"),
        row("gas-c-9", colour="red"),
    ]
    result = await bulk_put_devices(
        session, catalog=default_catalog(), rows=rows, now=NOW, audit=audit
    )
    got = {r.row: r for r in result.results}
    assert [r.row for r in result.results] == list(range(1, 12))
    assert (result.created, result.rejected) == (2, 9)
    assert (got[1].status, got[10].status) == ("created", "created")
    assert (got[2].field, got[2].reason) == ("scenario_id", "Unknown scenario 'ufo'.")
    assert (got[3].device_id, got[3].field) == (None, None)
    assert got[4].field == "lon"
    assert (got[5].field, got[5].reason) == ("profile_id", "Unknown device profile 'nope'.")
    assert (got[6].device_id, got[6].field) == (None, "device_id")
    assert got[7].reason == "the device is also on row 1 of this request"
    assert got[8].reason is not None
    assert "lon and lat go together" in got[8].reason
    assert got[9].reason is not None
    assert "name: Field required" in got[9].reason
    assert got[11].field == "colour"
    assert audit.after_digest is not None
    assert audit.before_digest is None  # only new devices


async def test_scopes_hold_row_by_row(session: AsyncSession) -> None:
    await bulk(session, [row("gas-s-1"), row("gas-s-2", town_id="huamu")])
    lujiazui = Scope.parse("town:lujiazui")
    got = await bulk(
        session,
        [
            row("gas-s-1", name="Renamed"),  # its town: updated
            row("gas-s-3", town_id="huamu"),  # another town: not placed there
            row("gas-s-2", town_id="lujiazui"),  # another town's device: not taken over
            row("gas-s-4"),
        ],
        scope=lujiazui,
    )
    assert [(n, s, f) for n, _, s, f in got] == [
        (1, "updated", None),
        (2, "rejected", None),
        (3, "rejected", "device_id"),
        (4, "created", None),
    ]
    huamu = await session.get(Device, "gas-s-2", populate_existing=True)
    assert huamu is not None
    assert huamu.town_id == "huamu"
