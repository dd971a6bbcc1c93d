"""The closed loop's transition function, stage clocks, timers and closure checks are pure:
tables of cases and properties that call the production functions."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskwatch.common.events.base import Level
from riskwatch.common.events.workorders import STAGES, WORK_ORDER_ACTIONS, WORK_ORDER_STATUSES
from riskwatch.workorder.workorders.domain import (
    ALLOWED,
    DEFAULT_POLICY,
    STAGE_OF,
    TARGET,
    Accept,
    Arrive,
    Clear,
    Close,
    ClosureRules,
    Command,
    CommandRejected,
    Correct,
    Dispatch,
    EscalateLevel,
    EscalateTier,
    FalseAlarm,
    Feedback,
    Location,
    Order,
    Reopen,
    Return,
    Review,
    StageLimits,
    Supervise,
    Transfer,
    TransitionNotAllowed,
    closure_problems,
    decide,
    fire_timer,
    new_order,
    next_timer,
    remind_at,
)

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
LIMITS = StageLimits(
    accept=10 * MIN, on_site=30 * MIN, clear=60 * MIN, feedback=90 * MIN, close=120 * MIN
)


def fresh(level: Level = Level.RED) -> Order:
    return new_order(level=level, tier="small", created_at=T0, limits=LIMITS)


def walk(order: Order, *commands: Command, step: timedelta = MIN) -> Order:
    now = order.created_at
    for command in commands:
        now += step
        order = decide(order, command, now).order
    return order


HAPPY: tuple[Command, ...] = (
    Dispatch("street-lujiazui", "he.ping"),
    Accept(),
    Arrive(Location(121.5, 31.23)),
    Clear("valve closed"),
    Feedback({"cause": "loose flange", "measures": "tightened"}),
    Review(),
    Close(),
)


def test_the_happy_path_walks_every_status_in_order() -> None:
    order = fresh()
    seen = [order.status]
    now = T0
    for command in HAPPY:
        now += MIN
        order = decide(order, command, now).order
        seen.append(order.status)
    assert seen == [
        "created",
        "dispatched",
        "accepted",
        "on_site",
        "cleared",
        "feedback",
        "reviewed",
        "closed",
    ]
    assert order.stage is None
    assert order.stage_due_at is None
    assert order.accepted_at == T0 + 2 * MIN
    assert order.closed_at == T0 + 7 * MIN


def test_an_illegal_action_names_the_allowed_ones() -> None:
    with pytest.raises(TransitionNotAllowed) as caught:
        decide(fresh(), Close(), T0)
    assert caught.value.allowed == (
        "dispatch",
        "false_alarm",
        "supervise",
        "escalate_tier",
        "escalate_level",
    )
    assert "allowed now: dispatch, false_alarm" in str(caught.value)


def test_a_returned_order_goes_back_to_dispatch_without_its_person() -> None:
    order = walk(fresh(), Dispatch("street-huamu", "qian.huamu"), Accept())
    returned = decide(order, Return("not our street"), T0 + 5 * MIN)
    assert returned.order.status == "returned"
    assert returned.note == "not our street"
    assert returned.order.assignee is None
    assert returned.order.accepted_at is None
    assert returned.order.allowed[0] == "dispatch"
    again = decide(returned.order, Dispatch("street-lujiazui", "he.ping"), T0 + 6 * MIN).order
    assert (again.status, again.unit_id, again.assignee) == (
        "dispatched",
        "street-lujiazui",
        "he.ping",
    )
    # Back on the accept clock: the manual's accept deadline, not a fresh one.
    assert again.stage == "accept"
    assert again.stage_due_at == T0 + 10 * MIN


def test_transfer_to_the_same_place_is_refused() -> None:
    order = walk(fresh(), Dispatch("street-huamu", "a"))
    with pytest.raises(CommandRejected):
        decide(order, Transfer("street-huamu", "a", "why"), T0 + 2 * MIN)


def test_a_false_alarm_closes_and_says_so_and_reopen_clears_the_label() -> None:
    order = walk(fresh(), Dispatch("u"), Accept(), FalseAlarm("sensor knocked"))
    assert order.status == "closed"
    assert order.false_alarm
    reopened = decide(order, Reopen("it leaked again"), T0 + 10 * MIN).order
    assert reopened.status == "dispatched"
    assert not reopened.false_alarm
    assert reopened.closed_at is None
    assert reopened.stage == "accept"


def test_tiers_go_small_medium_big_then_stop() -> None:
    order = walk(fresh(), EscalateTier("two departments"), EscalateTier("district"))
    assert order.tier == "big"
    with pytest.raises(CommandRejected):
        decide(order, EscalateTier("again"), T0 + 5 * MIN)


def test_supervision_sets_a_new_stage_deadline_and_restarts_its_timers() -> None:
    order = walk(fresh(), Dispatch("u"))
    fired, _ = fire_timer(order, T0 + 11 * MIN, 0.8)
    assert fired.overdue
    deadline = T0 + 60 * MIN
    supervised = decide(fired, Supervise("today please", deadline), T0 + 20 * MIN).order
    assert supervised.stage_due_at == deadline
    assert not supervised.overdue
    assert remind_at(supervised, 0.8) == T0 + 20 * MIN + (40 * MIN) * 0.8
    assert supervised.deadlines["accept"] == T0 + 10 * MIN  # timeliness still by the manual
    with pytest.raises(CommandRejected):
        decide(supervised, Supervise("past", T0), T0 + 21 * MIN)


def test_a_higher_level_only_brings_deadlines_forward() -> None:
    order = walk(fresh(Level.YELLOW), Dispatch("u"))
    shorter = StageLimits(
        accept=5 * MIN, on_site=60 * MIN, clear=61 * MIN, feedback=62 * MIN, close=63 * MIN
    )
    raised = decide(order, EscalateLevel(Level.RED, shorter), T0 + 2 * MIN).order
    assert raised.level is Level.RED
    assert raised.deadlines["accept"] == T0 + 5 * MIN  # earlier: taken
    assert raised.deadlines["on_site"] == T0 + 30 * MIN  # later: kept
    assert raised.stage_due_at == T0 + 5 * MIN
    with pytest.raises(CommandRejected):
        decide(raised, EscalateLevel(Level.ORANGE, shorter), T0 + 3 * MIN)


def test_a_reported_time_cannot_be_in_the_future() -> None:
    order = walk(fresh(), Dispatch("u"), Accept())
    with pytest.raises(CommandRejected):
        decide(order, Arrive(at=T0 + 60 * MIN), T0 + 3 * MIN)


def test_limits_must_not_shrink_along_the_loop() -> None:
    with pytest.raises(ValueError, match="must not shrink"):
        StageLimits(
            accept=20 * MIN, on_site=10 * MIN, clear=30 * MIN, feedback=40 * MIN, close=50 * MIN
        )
    assert DEFAULT_POLICY.limits(Level.RED).close == timedelta(hours=2)


def test_the_tables_cover_the_vocabulary() -> None:
    assert set(ALLOWED) == set(WORK_ORDER_STATUSES) == set(STAGE_OF)
    assert set(TARGET) == set(WORK_ORDER_ACTIONS)
    for status, actions in ALLOWED.items():
        assert set(actions) <= set(WORK_ORDER_ACTIONS), status


# --- Timers ------------------------------------------------------------------------------------


def test_the_reminder_fires_at_80_percent_then_the_overdue_at_the_limit_once_each() -> None:
    order = walk(fresh(), Dispatch("u"))  # accept stage: due T0+10 min, remind at T0+8 min
    assert next_timer(order, 0.8) == ("reminder", T0 + 8 * MIN)
    same, fired = fire_timer(order, T0 + 7 * MIN, 0.8)
    assert fired is None
    assert same == order
    order, fired = fire_timer(order, T0 + 8 * MIN, 0.8)
    assert fired == "reminder"
    assert fire_timer(order, T0 + 9 * MIN, 0.8)[1] is None
    order, fired = fire_timer(order, T0 + 10 * MIN, 0.8)
    assert fired == "overdue"
    assert next_timer(order, 0.8) is None
    assert fire_timer(order, T0 + 99 * MIN, 0.8)[1] is None


def test_a_late_look_fires_only_the_overdue_notice() -> None:
    order = walk(fresh(), Dispatch("u"))
    order, fired = fire_timer(order, T0 + 30 * MIN, 0.8)
    assert fired == "overdue"
    assert order.reminded
    assert order.overdue


def test_a_new_stage_starts_fresh_timers_on_its_own_deadline() -> None:
    order = walk(fresh(), Dispatch("u"))
    order, _ = fire_timer(order, T0 + 30 * MIN, 0.8)
    accepted = decide(order, Accept(), T0 + 31 * MIN).order
    assert accepted.stage == "on_site"
    assert not accepted.overdue
    assert not accepted.reminded
    assert accepted.stage_due_at == T0 + 30 * MIN  # already past: the overdue fires next look
    assert fire_timer(accepted, T0 + 31 * MIN, 0.8)[1] == "overdue"


commands = st.one_of(
    st.builds(Dispatch, st.sampled_from(["u1", "u2"]), st.sampled_from([None, "a", "b"])),
    st.builds(Accept),
    st.builds(Return, st.just("r")),
    st.builds(Transfer, st.sampled_from(["u1", "u2"]), st.sampled_from([None, "a"]), st.just("t")),
    st.builds(Arrive),
    st.builds(Clear, st.just("n")),
    st.builds(Feedback, st.just({"cause": "c"})),
    st.builds(Review),
    st.builds(Close),
    st.builds(FalseAlarm, st.just("f")),
    st.builds(Reopen, st.just("o")),
    st.builds(EscalateTier, st.just("e")),
)


@settings(max_examples=300)
@given(st.lists(st.tuples(commands, st.integers(0, 30)), max_size=25), st.floats(0.05, 0.95))
def test_any_walk_keeps_the_invariants(steps: list[tuple[Command, int]], fraction: float) -> None:
    """Whatever is tried in whatever order: a refused action changes nothing; an allowed one
    leads where TARGET says; the running stage follows the status; timers fire at most once
    per stage clock and never early."""
    order = fresh()
    now = T0
    for command, minutes in steps:
        now += timedelta(minutes=minutes)
        order, fired = fire_timer(order, now, fraction)
        if fired is not None:
            assert order.stage_due_at is not None
            assert order.stage_clock_from is not None
            if fired == "overdue":
                assert now >= order.stage_due_at
            else:
                assert now >= remind_at(order, fraction)  # type: ignore[operator]
        try:
            decision = decide(order, command, now)
        except TransitionNotAllowed:
            assert command.action not in order.allowed
            continue
        except CommandRejected:
            continue
        assert command.action in order.allowed
        target = TARGET[command.action]
        new = decision.order
        assert new.status == (order.status if target is None else target)
        assert new.stage == STAGE_OF[new.status]
        if new.stage is None:
            assert new.stage_due_at is None
        else:
            assert new.stage_due_at is not None
            if new.stage != order.stage:
                assert new.stage_due_at == new.deadlines[new.stage]
                assert not new.reminded
                assert not new.overdue
        assert list(new.deadlines.values()) == sorted(new.deadlines.values())
        assert set(new.deadlines) == set(STAGES)
        order = new


@given(st.floats(0.01, 0.99), st.integers(1, 10_000))
def test_the_reminder_is_always_before_the_limit(fraction: float, minutes: int) -> None:
    limits = StageLimits.scaled(timedelta(minutes=minutes))
    order = new_order(level=Level.BLUE, tier="small", created_at=T0, limits=limits)
    timer = next_timer(order, fraction)
    assert timer is not None
    kind, at = timer
    assert order.stage_due_at is not None
    assert at <= order.stage_due_at
    assert kind == "overdue" or at < order.stage_due_at


# --- Closure quality -----------------------------------------------------------------------------

HUAMU = (121.525, 31.19, 121.575, 31.225)


INSIDE = Location(121.55, 31.2)


def closed_loop(location: Location | None = INSIDE) -> Order:
    order = walk(fresh(), Dispatch("u"), Accept(), Arrive(location), Clear("done"))
    return decide(order, Feedback({"cause": "leak", "measures": "fixed"}), T0 + 10 * MIN).order


def test_good_closure_data_has_no_problems() -> None:
    rules = ClosureRules(required_fields=("cause", "measures"), photos_required=1)
    assert closure_problems(closed_loop(), rules, photos=1, town_bbox=HUAMU) == []


def test_missing_fields_photos_and_a_place_outside_the_town_are_named() -> None:
    rules = ClosureRules(required_fields=("cause", "gas_company_crew"), photos_required=2)
    problems = closure_problems(
        closed_loop(Location(121.4, 31.2)), rules, photos=1, town_bbox=HUAMU
    )
    assert problems == [
        "required field 'gas_company_crew' is missing",
        "2 photo(s) required, 1 attached",
        "on-site location 121.40000,31.20000 is outside the town",
    ]


def test_times_out_of_order_are_illogical() -> None:
    order = closed_loop()
    assert order.accepted_at is not None
    told = dataclasses.replace(order, on_site_at=order.accepted_at - MIN)
    problems = closure_problems(told, ClosureRules(), photos=0, town_bbox=None)
    assert problems == [
        f"on site time {(order.accepted_at - MIN).isoformat()} is before accepted time "
        f"{order.accepted_at.isoformat()}"
    ]


def test_a_failed_check_sends_the_order_back_and_feedback_again_clears_the_flags() -> None:
    order = closed_loop()
    back = decide(order, Correct(("x",)), T0 + 11 * MIN).order
    assert back.status == "cleared"
    assert back.quality_problems == ("x",)
    again = decide(back, Feedback({"cause": "leak"}), T0 + 12 * MIN).order
    assert again.status == "feedback"
    assert again.quality_problems == ()


def test_a_higher_level_widens_the_loop_never_narrows_it() -> None:
    order = walk(fresh(Level.YELLOW), Dispatch("u"), EscalateTier("two departments"))
    assert order.tier == "medium"
    narrower = decide(order, EscalateLevel(Level.ORANGE, LIMITS, tier="small"), T0 + 5 * MIN)
    assert narrower.order.tier == "medium"
    wider = decide(narrower.order, EscalateLevel(Level.RED, LIMITS, tier="big"), T0 + 6 * MIN)
    assert wider.order.tier == "big"
    assert wider.note == "level orange -> red, loop medium -> big"
