"""Projection upserts against real PostgreSQL: redelivered events, events out of order and
across topics, cleared wins, work orders as their newest event (returned, reopened, closed
again), best notification outcome, duty."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.events import EventPayload, Level
from riskwatch.common.events.notifications import AckVia
from riskwatch.common.events.readings import DeviceReadings, Reading, ReadingsAccepted
from riskwatch.common.events.workorders import (
    BulletinUnit,
    WorkOrderBulletinPublished,
    WorkOrderCreated,
    WorkOrderDeadlineApproaching,
    WorkOrderOverdue,
    WorkOrderStateChanged,
)
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


def _renamed(event: EventPayload, work_order_id: str) -> EventPayload:
    """The same event of another work order (so one test can run many orders of events)."""
    assert isinstance(event, WorkOrderCreated | WorkOrderStateChanged | WorkOrderOverdue)
    order = event.work_order.model_copy(update={"work_order_id": work_order_id})
    return event.model_copy(update={"work_order": order})


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


async def test_a_technical_alarm_is_not_counted_as_a_safety_alarm(session: AsyncSession) -> None:
    offline = f.raised("a-tech", level=Level.BLUE)
    await apply(session, offline.model_copy(update={"alarm": offline.alarm.model_copy(
        update={"kind": "technical"})}))  # fmt: skip
    assert await session.scalar(select(func.count()).select_from(AlarmView)) == 0


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


def a_closed_loop(wo: str, *, reclosed: bool = True) -> list[EventPayload]:
    """One order around the loop: dispatched the instant it is created, returned, dispatched
    again and transferred to another unit, late to accept, closed, reopened, and (`reclosed`)
    closed again."""
    lujiazui = {"unit_id": "street-lujiazui"}
    moved = {"unit_id": "street-zhangjiang", "assignee": "h2"}
    events: list[EventPayload] = [
        f.wo_created(wo, "a-loop", **lujiazui),
        f.wo_moved(wo, "a-loop", "dispatched", at=T0, assignee="h1", **lujiazui),
        f.wo_moved(wo, "a-loop", "returned", at=T0 + 5 * MIN, **lujiazui),
        f.wo_moved(wo, "a-loop", "dispatched", at=T0 + 6 * MIN, from_status="returned", **lujiazui),
        f.wo_moved(
            wo,
            "a-loop",
            "dispatched",
            at=T0 + 7 * MIN,
            action="transfer",
            from_status="dispatched",
            **moved,
        ),
        f.wo_overdue(wo, "a-loop", at=T0 + 16 * MIN, stage="accept", status="dispatched", **moved),
        f.wo_moved(wo, "a-loop", "accepted", at=T0 + 20 * MIN, **moved),
        f.wo_moved(wo, "a-loop", "on_site", at=T0 + 30 * MIN, **moved),
        f.wo_moved(wo, "a-loop", "cleared", at=T0 + 60 * MIN, **moved),
        f.wo_moved(wo, "a-loop", "feedback", at=T0 + 80 * MIN, **moved),
        f.wo_moved(wo, "a-loop", "reviewed", at=T0 + 90 * MIN, **moved),
        f.wo_moved(wo, "a-loop", "closed", at=T0 + 100 * MIN, **moved),
        f.wo_moved(
            wo,
            "a-loop",
            "dispatched",
            at=T0 + 120 * MIN,
            action="reopen",
            from_status="closed",
            **moved,
        ),
        f.wo_moved(wo, "a-loop", "accepted", at=T0 + 130 * MIN, **moved),
    ]
    if reclosed:
        events.append(
            f.wo_moved(wo, "a-loop", "closed", at=T0 + 150 * MIN, from_status="accepted", **moved)
        )
    return events


def orders(events: list[EventPayload], tries: int) -> list[list[EventPayload]]:
    """The events in order, reversed, and shuffled (a fixed seed), each shuffle redelivering
    every event a second time somewhere later."""
    rng = random.Random(10)
    found = [events, events[::-1]]
    for _ in range(tries):
        shuffled = events * 2
        rng.shuffle(shuffled)
        found.append(shuffled)
    return found


async def test_a_work_order_is_its_newest_event_in_any_order(session: AsyncSession) -> None:
    for n, events in enumerate(orders(a_closed_loop("wo"), tries=30)):
        wo = f"wo-loop-{n}"
        await apply(session, *(_renamed(e, wo) for e in events))
        got = await row(session, WorkOrderView, wo)
        assert (got.status, got.closed_at, got.updated_at) == (
            "closed",
            T0 + 150 * MIN,  # the last closing, not the first
            T0 + 150 * MIN,
        ), n
        assert (got.dispatched_at, got.accepted_at, got.on_site_at, got.cleared_at) == (
            T0,
            T0 + 20 * MIN,  # the first acceptance, not the one after reopening
            T0 + 30 * MIN,
            T0 + 60 * MIN,
        ), n
        assert (got.feedback_at, got.reviewed_at, got.overdue_at) == (
            T0 + 80 * MIN,
            T0 + 90 * MIN,
            T0 + 16 * MIN,
        ), n
        # The snapshot is the newest event's: the unit it was transferred to.
        assert (got.unit_id, got.assignee, got.created_at) == ("street-zhangjiang", "h2", T0)
        assert (got.accept_due_at, got.close_due_at, got.due_at) == (
            T0 + 15 * MIN,
            T0 + 4 * 60 * MIN,
            T0 + 4 * 60 * MIN,
        )
        assert (got.rule_id, got.origin, got.tier, got.false_alarm) == (
            "gas-rule",
            "alarm",
            "small",
            False,
        )


async def test_a_reopened_order_not_closed_again_has_no_closed_at(
    session: AsyncSession,
) -> None:
    for n, events in enumerate(orders(a_closed_loop("wo", reclosed=False), tries=20)):
        wo = f"wo-reopened-{n}"
        await apply(session, *(_renamed(e, wo) for e in events))
        got = await row(session, WorkOrderView, wo)
        assert (got.status, got.closed_at, got.accepted_at) == ("accepted", None, T0 + 20 * MIN), n


async def test_created_and_dispatched_at_one_instant_is_dispatched(session: AsyncSession) -> None:
    created = f.wo_created("wo-tie", "a-tie")
    dispatched = f.wo_moved("wo-tie", "a-tie", "dispatched", at=T0)
    for wo, events in (("wo-tie-1", [created, dispatched]), ("wo-tie-2", [dispatched, created])):
        await apply(session, *(_renamed(e, wo) for e in events))
        got = await row(session, WorkOrderView, wo)
        assert (got.status, got.dispatched_at, got.updated_at) == ("dispatched", T0, T0)


async def test_a_false_alarm_closes_the_order(session: AsyncSession) -> None:
    events: list[EventPayload] = [
        f.wo_created("wo", "a-false"),
        f.wo_moved("wo", "a-false", "dispatched", at=T0 + MIN),
        f.wo_moved("wo", "a-false", "accepted", at=T0 + 2 * MIN),
        f.wo_moved(
            "wo",
            "a-false",
            "closed",
            at=T0 + 9 * MIN,
            action="false_alarm",
            from_status="accepted",
            false_alarm=True,
        ),
    ]
    for n, order in enumerate(orders(events, tries=5)):
        wo = f"wo-false-{n}"
        await apply(session, *(_renamed(e, wo) for e in order))
        got = await row(session, WorkOrderView, wo)
        assert (got.status, got.false_alarm, got.closed_at) == ("closed", True, T0 + 9 * MIN)
        assert (got.on_site_at, got.cleared_at, got.stage) == (None, None, None)


async def test_the_same_work_order_event_twice_changes_nothing(session: AsyncSession) -> None:
    event = f.envelope(f.wo_moved("wo-twice", "a-twice", "accepted", at=T0 + MIN))
    await on_event(session, event)
    first = columns(await row(session, WorkOrderView, "wo-twice"))
    await on_event(session, event)
    assert columns(await row(session, WorkOrderView, "wo-twice")) == first
    assert (first["status"], first["accepted_at"], first["closed_at"]) == (
        "accepted",
        T0 + MIN,
        None,
    )


async def test_an_older_snapshot_does_not_undo_a_newer_deadline(session: AsyncSession) -> None:
    extended = f.work_order("wo-4", "a-4", status="accepted", due_at=T0 + 8 * 60 * MIN)
    moved = WorkOrderStateChanged(
        work_order=extended,
        action="accept",
        from_status="dispatched",
        to_status="accepted",
        actor="h",
        changed_at=T0 + 30 * MIN,
    )
    original = WorkOrderCreated(work_order=f.work_order("wo-4", "a-4", due_at=T0 + 4 * 60 * MIN))
    await apply(session, moved, original)
    got = await row(session, WorkOrderView, "wo-4")
    assert (got.status, got.due_at) == ("accepted", T0 + 8 * 60 * MIN)
    assert got.close_due_at == T0 + 8 * 60 * MIN
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
    order = f.work_order("wo-quiet", "a-quiet")
    reminder = WorkOrderDeadlineApproaching(
        work_order=order,
        stage="accept",
        stage_due_at=order.deadlines["accept"],
        reminded_at=T0 + 12 * MIN,
    )
    bulletin = WorkOrderBulletinPublished(
        bulletin_id="b-1",
        week_start=T0 - 7 * 24 * 60 * MIN,
        week_end=T0,
        units=[BulletinUnit(unit_id="u", overdue_open=1, closed_late=0, work_order_ids=["w"])],
        published_at=T0,
    )
    await apply(session, reading, reminder, bulletin)
    for model in (AlarmView, WorkOrderView, NotificationView, RosterView, DutyShiftView):
        assert await session.scalar(select(func.count()).select_from(model)) == 0
