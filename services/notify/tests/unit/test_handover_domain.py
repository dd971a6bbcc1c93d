"""Which open items a duty center hands over, who takes a handover over, and in what order
items are attached."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from riskwatch.common.events.base import Level
from riskwatch.notify.duty.domain import DISTRICT_FROM, CenterKind, DutyCenterRef
from riskwatch.notify.duty.handover import (
    attachment,
    covers,
    in_handover_order,
    may_acknowledge,
)
from riskwatch.notify.duty.models import OpenItem

from .. import factories as f

STREET = DutyCenterRef("street-lujiazui", CenterKind.STREET, town_id="lujiazui")
SECTOR = DutyCenterRef("sector-gas", CenterKind.SECTOR, sector_id="gas")
DISTRICT = DutyCenterRef("district", CenterKind.DISTRICT)

ids = st.sampled_from(["gas", "water", "lujiazui", "gaoqiao"])
places = st.tuples(st.sampled_from(Level), ids, st.none() | ids)


def item(
    item_id: str, level: Level, *, kind: str = "alarm", opened_minutes_ago: int = 0
) -> OpenItem:
    return OpenItem(
        item_kind=kind,
        item_id=item_id,
        alarm_id=f"a-{item_id}",
        level=level.value,
        status="active" if kind == "alarm" else "dispatched",
        sector_id="gas",
        town_id="lujiazui",
        device_id="gas-001",
        opened_at=f.NOW - timedelta(minutes=opened_minutes_ago),
        updated_at=f.NOW,
    )


def test_a_street_center_holds_the_items_of_its_town_whatever_their_sector_or_level() -> None:
    assert covers(STREET, level=Level.BLUE, sector_id="water", town_id="lujiazui")
    assert not covers(STREET, level=Level.RED, sector_id="gas", town_id="gaoqiao")
    assert not covers(STREET, level=Level.RED, sector_id="gas", town_id=None)


def test_a_center_holds_the_work_orders_it_is_the_responsible_unit_of() -> None:
    assert covers(SECTOR, level=Level.BLUE, sector_id="water", town_id=None, unit_id="sector-gas")
    unit = STREET.duty_center_id
    assert covers(STREET, level=Level.BLUE, sector_id="gas", town_id=None, unit_id=unit)
    assert not covers(STREET, level=Level.BLUE, sector_id="gas", town_id=None, unit_id="other")


def test_a_sector_center_holds_the_items_of_its_sector_in_every_town() -> None:
    assert covers(SECTOR, level=Level.BLUE, sector_id="gas", town_id=None)
    assert covers(SECTOR, level=Level.BLUE, sector_id="gas", town_id="gaoqiao")
    assert not covers(SECTOR, level=Level.RED, sector_id="water", town_id="lujiazui")


def test_a_center_missing_what_it_covers_holds_nothing_rather_than_the_unplaced() -> None:
    street = DutyCenterRef("s", CenterKind.STREET)
    sector = DutyCenterRef("s", CenterKind.SECTOR)
    assert not covers(street, level=Level.RED, sector_id="gas", town_id=None)
    assert not covers(sector, level=Level.RED, sector_id="gas", town_id=None)


@given(places)
def test_the_district_center_holds_exactly_the_items_from_orange_up(
    place: tuple[Level, str, str | None],
) -> None:
    level, sector_id, town_id = place
    held = covers(DISTRICT, level=level, sector_id=sector_id, town_id=town_id)
    assert held == (level.rank >= DISTRICT_FROM.rank)
    assert held == (level in (Level.ORANGE, Level.RED))


@given(places, places)
def test_coverage_depends_only_on_the_field_of_the_centers_kind(
    a: tuple[Level, str, str | None], b: tuple[Level, str, str | None]
) -> None:
    (la, sa, ta), (lb, sb, tb) = a, b
    if ta == tb:
        assert covers(STREET, level=la, sector_id=sa, town_id=ta) == covers(
            STREET, level=lb, sector_id=sb, town_id=tb
        )
    if sa == sb:
        assert covers(SECTOR, level=la, sector_id=sa, town_id=ta) == covers(
            SECTOR, level=lb, sector_id=sb, town_id=tb
        )


def test_a_named_incoming_person_alone_acknowledges() -> None:
    def may(by: str, *, member: bool = True) -> bool:
        return may_acknowledge(from_person_id="out", to_person_id="in", by=by, by_is_member=member)

    assert may("in")
    assert may("in", member=False)  # named while they were a member
    assert not may("other")
    assert not may("out")


def test_with_nobody_named_any_member_but_the_writer_acknowledges() -> None:
    def may(by: str, *, member: bool = True) -> bool:
        return may_acknowledge(from_person_id="out", to_person_id=None, by=by, by_is_member=member)

    assert may("other")
    assert not may("outsider", member=False)
    assert not may("out")


def test_items_are_attached_most_severe_first_then_longest_open() -> None:
    items = [
        item("y-old", Level.YELLOW, opened_minutes_ago=60),
        item("r-new", Level.RED, opened_minutes_ago=1),
        item("y-new", Level.YELLOW, opened_minutes_ago=5),
        item("r-old", Level.RED, opened_minutes_ago=30),
    ]
    assert [i.item_id for i in in_handover_order(items)] == ["r-old", "r-new", "y-old", "y-new"]


def test_an_attachment_keeps_the_item_as_json() -> None:
    alarm = attachment(item("x", Level.ORANGE))
    assert alarm == {
        "alarm_id": "a-x",
        "level": "orange",
        "status": "active",
        "device_id": "gas-001",
        "sector_id": "gas",
        "town_id": "lujiazui",
        "opened_at": f.NOW.isoformat(),
    }
    order = attachment(item("wo-1", Level.ORANGE, kind="work_order"))
    assert order["work_order_id"] == "wo-1"
    assert order["alarm_id"] == "a-wo-1"
    assert order["status"] == "dispatched"
