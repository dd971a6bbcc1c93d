"""Projection upserts against real PostgreSQL: redelivered events, events out of order and
across topics, cleared wins, forward-only work orders, best notification outcome, duty."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.events import EventPayload, Level
from riskwatch.common.events.notifications import AckVia
from riskwatch.common.events.readings import DeviceReadings, Reading, ReadingsAccepted
from riskwatch.common.events.workorders import WorkOrderCreated, WorkOrderStateChanged
from riskwatch.reporting.projections.handlers import on_event
from riskwatch.reporting.projections.models import (
    AlarmView,
    DutyShiftView,
    NotificationView,
    RosterView,
    WorkOrderView,
)
from riskwatch.reporting.reports.service import get_alarm_trail

from .. import factories as f

M = TypeVar("M")
T0 = f.T0
MIN = timedelta(minutes=1)


async def apply(session: AsyncSession, *payloads: EventPayload) -> None:
    for payload in payloads:
        await on_event(session, f.envelope(payload))


async def row(session: AsyncSession, model: type[M], key: str) -> M:
    found = await session.get(model, key, populate_existing=True)
    assert found is not None, f"no {model.__name__} {key}"
    return found


def columns(obj: Any) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}


async def test_the_same_alarm_event_twice_leaves_one_unchanged_row(session: AsyncSession) -> None:
    event = f.envelope(f.raised("a-1", level=Level.ORANGE))
    await on_event(session, event)
    first = columns(await row(session, AlarmView, "a-1"))
    await on_event(session, event)
    assert columns(await row(session, AlarmView, "a-1")) == first
    assert first["level"] == "orange"
    assert first["status"] == "active"
    assert first["sector_id"] == "construction"
    assert first["raised_at"] == T0
    assert first["received_at"] == T0 - timedelta(seconds=10)
    assert await session.scalar(select(func.count()).select_from(AlarmView)) == 1


async def test_highest_level_and_cleared_win_in_any_order(session: AsyncSession) -> None:
    def events(alarm_id: str) -> list[EventPayload]:
        return [
            f.raised(alarm_id, level=Level.YELLOW),
            f.updated(alarm_id, level=Level.RED, previous=Level.YELLOW, at=T0 + MIN),
            f.cleared(alarm_id, at=T0 + 5 * MIN, level=Level.RED),
        ]

    for n, order in enumerate(itertools.permutations(range(3))):
        alarm_id = f"a-perm-{n}"
        all_events = events(alarm_id)
        await apply(session, *(all_events[i] for i in order))
        alarm = await row(session, AlarmView, alarm_id)
        assert (alarm.level, alarm.status) == ("red", "cleared"), order
        assert alarm.cleared_at == T0 + 5 * MIN
        assert alarm.cleared_reason == "work_order_closed"
        assert alarm.updated_at == T0 + 5 * MIN
        assert alarm.raised_at == T0


async def test_a_late_raise_never_reopens_or_lowers_an_alarm(session: AsyncSession) -> None:
    await apply(
        session,
        f.raised("a-2", level=Level.YELLOW),
        f.updated("a-2", level=Level.RED, previous=Level.YELLOW, at=T0 + MIN),
        f.cleared("a-2", at=T0 + 2 * MIN, level=Level.RED),
        f.raised("a-2", level=Level.YELLOW),  # redelivered under a new event id
    )
    alarm = await row(session, AlarmView, "a-2")
    assert (alarm.level, alarm.status, alarm.cleared_at) == ("red", "cleared", T0 + 2 * MIN)


async def test_work_order_status_only_moves_forward(session: AsyncSession) -> None:
    def events(wo: str) -> list[EventPayload]:
        return [
            f.wo_created(wo, "a-3"),
            f.wo_moved(wo, "a-3", "accepted", at=T0 + 10 * MIN),
            f.wo_moved(wo, "a-3", "disposed", at=T0 + 60 * MIN),
            f.wo_moved(wo, "a-3", "closed", at=T0 + 90 * MIN),
            f.wo_overdue(wo, "a-3", at=T0 + 20 * MIN),
        ]

    for n, order in enumerate(itertools.permutations(range(5))):
        wo = f"wo-perm-{n}"
        all_events = events(wo)
        await apply(session, *(all_events[i] for i in order))
        got = await row(session, WorkOrderView, wo)
        assert got.status == "closed", order
        assert (got.accepted_at, got.disposed_at, got.closed_at, got.overdue_at) == (
            T0 + 10 * MIN,
            T0 + 60 * MIN,
            T0 + 90 * MIN,
            T0 + 20 * MIN,
        )
        assert got.created_at == T0
        assert got.updated_at == T0 + 90 * MIN


async def test_an_older_snapshot_does_not_undo_a_newer_deadline(session: AsyncSession) -> None:
    extended = f.work_order("wo-4", "a-4", status="accepted", due_at=T0 + 8 * 60 * MIN)
    moved = WorkOrderStateChanged(
        work_order=extended,
        action="accept",
        from_status="open",
        to_status="accepted",
        actor="h",
        changed_at=T0 + 30 * MIN,
    )
    original = WorkOrderCreated(work_order=f.work_order("wo-4", "a-4", due_at=T0 + 4 * 60 * MIN))
    await apply(session, moved, original)
    got = await row(session, WorkOrderView, "wo-4")
    assert (got.status, got.due_at) == ("accepted", T0 + 8 * 60 * MIN)
    assert got.accepted_at == T0 + 30 * MIN


async def test_a_work_order_may_arrive_before_its_alarm(session: AsyncSession) -> None:
    await apply(
        session,
        f.wo_created("wo-5", "a-5"),
        f.delivered("n-5", "a-5", at=T0 + MIN),
    )
    early = await get_alarm_trail(session, alarm_id="a-5")
    assert early.alarm is None
    assert [w.work_order_id for w in early.work_orders] == ["wo-5"]
    await apply(session, f.raised("a-5"))
    trail = await get_alarm_trail(session, alarm_id="a-5")
    assert trail.alarm is not None
    assert trail.alarm.status == "active"
    assert [w.work_order_id for w in trail.work_orders] == ["wo-5"]
    assert [n.notification_id for n in trail.notifications] == ["n-5"]


async def test_a_notification_is_dated_by_its_dispatch_even_when_late(
    session: AsyncSession,
) -> None:
    # Delivered overtakes Dispatched: the row exists at once, dated by the delivery...
    await apply(session, f.delivered("n-1", "a-1", at=T0 + MIN))
    first = await row(session, NotificationView, "n-1")
    assert (first.status, first.sent_at, first.dispatched_at) == ("delivered", T0 + MIN, None)
    # ...until Dispatched says when it went out, even if a skewed clock puts that later.
    await apply(session, f.dispatched("n-1", "a-1", at=T0 + 2 * MIN))
    got = await row(session, NotificationView, "n-1")
    assert (got.status, got.sent_at, got.dispatched_at) == ("delivered", T0 + 2 * MIN, T0 + 2 * MIN)


async def test_a_retried_notification_ends_in_its_best_outcome_in_any_order(
    session: AsyncSession,
) -> None:
    def events(n: str) -> list[EventPayload]:
        return [
            f.dispatched(n, "a-1", at=T0),
            f.failed(n, "a-1", at=T0 + MIN, will_retry=True),
            f.dispatched(n, "a-1", at=T0 + 2 * MIN, attempt=2),
            f.delivered(n, "a-1", at=T0 + 3 * MIN),
            f.acknowledged(n, "a-1", at=T0 + 4 * MIN),
        ]

    for k, order in enumerate(itertools.permutations(range(5))):
        n = f"n-perm-{k}"
        all_events = events(n)
        await apply(session, *(all_events[i] for i in order))
        got = await row(session, NotificationView, n)
        assert (got.status, got.attempt, got.sent_at) == ("acknowledged", 2, T0), order
        assert (got.dispatched_at, got.failed_at, got.gave_up_at) == (T0, T0 + MIN, None)
        assert (got.delivered_at, got.acknowledged_at) == (T0 + 3 * MIN, T0 + 4 * MIN)
        assert got.updated_at == T0 + 4 * MIN


async def test_the_earliest_acknowledgement_names_its_channel_in_any_order(
    session: AsyncSession,
) -> None:
    def events(n: str) -> list[EventPayload]:
        return [
            f.dispatched(n, "a-1", at=T0, channel="voice"),
            f.acknowledged(n, "a-1", at=T0 + 5 * MIN, channel="voice", via="sms"),
            f.acknowledged(n, "a-1", at=T0 + 3 * MIN, channel="voice", via="voice"),
            f.delivered(n, "a-1", at=T0 + 6 * MIN, channel="voice"),  # a late receipt
        ]

    for k, order in enumerate(itertools.permutations(range(4))):
        n = f"n-via-{k}"
        all_events = events(n)
        await apply(session, *(all_events[i] for i in order))
        got = await row(session, NotificationView, n)
        assert (got.status, got.acknowledged_at, got.acknowledged_via) == (
            "acknowledged",
            T0 + 3 * MIN,
            "voice",
        ), order

    # Two acknowledgements at the same instant: the same answer whichever came first.
    ties: list[tuple[str, AckVia, AckVia]] = [("n-tie-1", "sms", "api"), ("n-tie-2", "api", "sms")]
    for n, first, then in ties:
        await apply(
            session,
            f.acknowledged(n, "a-1", at=T0, via=first),
            f.acknowledged(n, "a-1", at=T0, via=then),
        )
        assert (await row(session, NotificationView, n)).acknowledged_via == "api"
    await apply(session, f.dispatched("n-quiet", "a-1", at=T0))
    assert (await row(session, NotificationView, "n-quiet")).acknowledged_via is None


async def test_only_a_failure_without_retry_is_final(session: AsyncSession) -> None:
    await apply(
        session,
        f.dispatched("n-2", "a-2", at=T0),
        f.failed("n-2", "a-2", at=T0 + MIN, will_retry=True),
    )
    assert (await row(session, NotificationView, "n-2")).status == "retrying"
    await apply(session, f.dispatched("n-2", "a-2", at=T0 + 2 * MIN, attempt=2))
    assert (await row(session, NotificationView, "n-2")).status == "retrying"
    await apply(session, f.failed("n-2", "a-2", at=T0 + 3 * MIN, attempt=2))
    got = await row(session, NotificationView, "n-2")
    assert (got.status, got.failed_at, got.gave_up_at) == ("failed", T0 + MIN, T0 + 3 * MIN)
    await apply(session, f.delivered("n-2", "a-2", at=T0 + 4 * MIN))  # a late receipt
    assert (await row(session, NotificationView, "n-2")).status == "delivered"


async def test_a_check_in_may_come_before_its_roster(session: AsyncSession) -> None:
    await apply(session, f.checked_in("s-1", "p-1", at=T0 + MIN, via="sms"))
    shift = await row(session, DutyShiftView, "s-1")
    assert (shift.roster_id, shift.starts_at, shift.checked_in_at) == (None, None, T0 + MIN)
    published = T0 - 60 * MIN
    await apply(session, f.roster("r-1", ("s-1", "p-1"), ("s-2", "p-2"), published_at=published))
    shift = await row(session, DutyShiftView, "s-1")
    assert (shift.roster_id, shift.starts_at, shift.checked_in_at) == ("r-1", T0, T0 + MIN)
    assert (shift.checked_in_late, shift.checked_in_via) == (False, "sms")
    await apply(session, f.checked_in("s-1", "p-1", at=T0 + 2 * MIN, late=True))  # a second tap
    shift = await row(session, DutyShiftView, "s-1")
    assert (shift.checked_in_at, shift.checked_in_late, shift.checked_in_via) == (
        T0 + MIN,
        False,
        "sms",
    )
    roster = await row(session, RosterView, "r-1")
    assert (roster.version, roster.shift_count, roster.published_at) == (1, 2, published)
    assert roster.first_published_at == published


async def test_the_earliest_check_in_counts_whatever_order_they_arrive_in(
    session: AsyncSession,
) -> None:
    await apply(
        session,
        f.checked_in("s-late", "p-2", at=T0 + 30 * MIN, late=True, via="sms"),
        f.checked_in("s-late", "p-1", at=T0 + 5 * MIN, via="api"),  # overtaken on the way
    )
    shift = await row(session, DutyShiftView, "s-late")
    assert (shift.checked_in_at, shift.checked_in_by) == (T0 + 5 * MIN, "p-1")
    assert (shift.checked_in_late, shift.checked_in_via) == (False, "api")


async def test_a_newer_version_replaces_the_roster_and_drops_unlisted_shifts(
    session: AsyncSession,
) -> None:
    v1, v2 = T0 - 120 * MIN, T0 - 60 * MIN
    await apply(
        session,
        f.roster("r-2", ("s-a", "p-1"), ("s-b", "p-2"), ("s-c", "p-3"), published_at=v1),
        f.roster("r-other", ("s-z", "p-9"), published_at=v1),
        f.checked_in("s-a", "p-1", at=T0 + MIN),
        f.checked_in("s-b", "p-2", at=T0 + 13 * 60 * MIN),
        f.checked_in("s-lone", "p-4", at=T0),  # no roster has listed it yet
        # Version 2: p-9 takes s-a, s-b is gone, s-d is new.
        f.roster("r-2", ("s-a", "p-9"), ("s-d", "p-5"), version=2, published_at=v2),
    )
    roster = await row(session, RosterView, "r-2")
    assert (roster.version, roster.shift_count, roster.published_at) == (2, 2, v2)
    assert roster.first_published_at == v1
    kept = await row(session, DutyShiftView, "s-a")
    assert (kept.person_id, kept.published_at) == ("p-9", v2)
    assert (kept.checked_in_at, kept.checked_in_by) == (T0 + MIN, "p-1")  # survives the swap
    assert (await row(session, DutyShiftView, "s-d")).starts_at == T0 + 12 * 60 * MIN
    shift_ids = set(await session.scalars(select(DutyShiftView.shift_id)))
    assert shift_ids == {"s-a", "s-d", "s-z", "s-lone"}

    # An empty version 3 leaves the roster with no shift at all.
    await apply(session, f.roster("r-2", version=3, published_at=v2 + MIN))
    assert (await row(session, RosterView, "r-2")).shift_count == 0
    assert set(await session.scalars(select(DutyShiftView.shift_id))) == {"s-z", "s-lone"}


async def test_an_older_version_or_a_replay_changes_nothing(session: AsyncSession) -> None:
    v1, v2 = T0, T0 + 60 * MIN
    newer = f.roster("r-3", ("s-e", "p-9"), version=2, published_at=v2)
    older = f.roster("r-3", ("s-e", "p-1"), ("s-f", "p-2"), version=1, published_at=v1)
    await apply(session, newer, f.checked_in("s-e", "p-9", at=T0 + MIN))

    async def snapshot() -> list[dict[str, Any]]:
        rows = [columns(await row(session, RosterView, "r-3"))]
        shifts = await session.scalars(
            select(DutyShiftView)
            .order_by(DutyShiftView.shift_id)
            .execution_options(populate_existing=True)
        )
        return rows + [columns(s) for s in shifts]

    before = await snapshot()
    await apply(session, newer)  # redelivered under a new event id
    assert await snapshot() == before
    # Version 1 arrives last: its earlier publication is the roster's first, nothing else moves.
    await apply(session, older)
    after = await snapshot()
    assert after[0] == {**before[0], "first_published_at": v1}
    assert after[1:] == before[1:]
    assert (after[0]["version"], after[0]["published_at"], after[0]["shift_count"]) == (2, v2, 1)
    assert await session.get(DutyShiftView, "s-f") is None


async def test_events_it_does_not_project_are_skipped(session: AsyncSession) -> None:
    reading = ReadingsAccepted(
        batch_id="b",
        devices=[
            DeviceReadings(
                device=f.alarm("z").device, readings=[Reading(metric="m", value=1.0, ts=T0)]
            )
        ],
        received_at=T0,
    )
    await apply(session, reading)
    for model in (AlarmView, WorkOrderView, NotificationView, RosterView, DutyShiftView):
        assert await session.scalar(select(func.count()).select_from(model)) == 0
