"""Notices about work orders, pure: which event tells whom under which template, the occasion
that keys them (one notice per occasion, person and channel), each person once, and texts
within two SMS segments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from riskwatch.common.events.workorders import (
    WorkOrderAction,
    WorkOrderCreated,
    WorkOrderDeadlineApproaching,
    WorkOrderOverdue,
    WorkOrderSnapshot,
    WorkOrderStateChanged,
)
from riskwatch.notify.notifications.domain import (
    CHANNELS,
    Addressee,
    ChannelKind,
    Recipient,
    addressees,
    plan_rows,
)
from riskwatch.notify.templates.domain import (
    SMS_MAX_SEGMENTS,
    WORK_ORDER_KEYS,
    Locale,
    TemplateKey,
    Templates,
    UnitCount,
    bulletin_variables,
    sms_segments,
    work_order_variables,
)
from riskwatch.notify.workorders.domain import CAPPED, Audience, plan_notice

NOW = datetime(2026, 11, 1, 19, 0, tzinfo=UTC)
DUE = NOW + timedelta(minutes=30)
TZ = ZoneInfo("Asia/Shanghai")
A = Audience


def snapshot(**fields: object) -> WorkOrderSnapshot:
    return WorkOrderSnapshot.model_validate(
        {
            "work_order_id": "wo-1",
            "alarm_id": "al-1",
            "level": "orange",
            "status": "dispatched",
            "sector_id": "gas",
            "scenario_id": "gas",
            "town_id": "huamu",
            "device_id": None,
            "created_at": NOW,
            "due_at": NOW + timedelta(hours=4),
            "unit_id": "street-huamu",
            "stage": "accept",
            "stage_due_at": DUE,
            **fields,
        }
    )


def move(action: WorkOrderAction, actor: str = "boss", **fields: object) -> WorkOrderStateChanged:
    return WorkOrderStateChanged(
        work_order=snapshot(**fields),
        action=action,
        from_status="created",
        to_status="dispatched",
        actor=actor,
        changed_at=NOW,
    )


def test_the_manual_s_own_dispatch_of_an_alarm_s_order_is_in_the_app_only() -> None:
    """The unit's people had the alarm's SMS already; a patrol's order, or a person's
    dispatch, goes by SMS too."""
    automatic = plan_notice(move("dispatch", actor="system", origin="alarm"))
    assert automatic is not None
    assert automatic.channels == (ChannelKind.IN_APP,)
    for other in (
        move("dispatch", actor="system", origin="patrol"),
        move("dispatch", actor="disp.wang", origin="alarm"),
        move("transfer", actor="system", origin="alarm"),
    ):
        plan = plan_notice(other)
        assert plan is not None
        assert plan.channels == (ChannelKind.IN_APP, ChannelKind.SMS)


@pytest.mark.parametrize("action", ["dispatch", "transfer", "reopen"])
def test_a_move_into_someones_hands_tells_the_assignee_or_else_the_unit(
    action: WorkOrderAction,
) -> None:
    to_person = plan_notice(move(action, assignee="h1"))
    assert to_person is not None
    assert (to_person.key, to_person.audiences) == (TemplateKey.WORK_ORDER, (A.ASSIGNEE,))
    assert to_person.occasion == f"workorder:wo-1:handed:{action}:20261101T190000Z"
    assert (to_person.stage, to_person.due, to_person.actor) == ("accept", DUE, "boss")
    to_unit = plan_notice(move(action))
    assert to_unit is not None
    assert to_unit.audiences == (A.UNIT_ON_DUTY,)
    assert to_unit.capped == frozenset()


def test_stage_limits_remind_near_and_escalate_when_passed_to_the_supervisors() -> None:
    near = plan_notice(
        WorkOrderDeadlineApproaching(
            work_order=snapshot(), stage="accept", stage_due_at=DUE, reminded_at=DUE
        )
    )
    assert near is not None
    assert near.audiences == (A.ASSIGNEE, A.UNIT_ON_DUTY)
    assert near.occasion == "workorder:wo-1:due:accept:20261101T193000Z"
    late = plan_notice(
        WorkOrderOverdue(work_order=snapshot(), stage="on_site", stage_due_at=DUE, overdue_at=DUE)
    )
    assert late is not None
    assert late.audiences == (A.ASSIGNEE, A.UNIT_ON_DUTY, A.UNIT_LEADER, A.DEPARTMENT_HEADS)
    assert late.occasion == "workorder:wo-1:overdue:on_site:20261101T193000Z"
    # Only the supervisors' SMS go through the storm caps.
    assert late.capped == CAPPED == {A.UNIT_LEADER, A.DEPARTMENT_HEADS}
    assert late.actor is None


def test_loop_tiers_reach_the_department_heads_then_the_district() -> None:
    medium = plan_notice(move("escalate_tier", tier="medium"))
    big = plan_notice(move("escalate_tier", tier="big"))
    assert medium is not None
    assert big is not None
    assert medium.audiences == (A.DEPARTMENT_HEADS,)
    assert big.audiences == (A.DISTRICT_ON_DUTY, A.DISTRICT_LEADER)
    assert medium.occasion != big.occasion
    assert plan_notice(move("escalate_tier", tier="small")) is None


@pytest.mark.parametrize(
    "action",
    ["accept", "return", "arrive", "clear", "feedback", "correct", "review", "close", "supervise"],
)
def test_other_moves_tell_nobody(action: WorkOrderAction) -> None:
    assert plan_notice(move(action, assignee="h1")) is None


def test_a_created_order_tells_nobody_until_it_is_dispatched() -> None:
    assert plan_notice(WorkOrderCreated(work_order=snapshot())) is None


def test_each_person_once_in_the_first_audience_and_never_the_actor_of_the_move() -> None:
    found = [
        Addressee(A.ASSIGNEE, Recipient("u", "h1", "+861")),
        Addressee(A.UNIT_ON_DUTY, Recipient("u", "h1", "+861")),
        Addressee(A.UNIT_ON_DUTY, Recipient("u", "boss", "+862")),
        Addressee(A.UNIT_LEADER, Recipient("u", "lead")),
        Addressee(A.UNIT_ON_DUTY, Recipient("u", "robot:u", robot_url="wecom:https://x")),
    ]
    people = addressees(found, actor="boss", assignee="h1")
    assert [(a.audience, a.recipient.person_id) for a in people] == [
        (A.ASSIGNEE, "h1"),
        (A.UNIT_LEADER, "lead"),
    ]
    # Handed to themself, the actor is told.
    assert [a.recipient.person_id for a in addressees(found[:1], actor="h1", assignee="h1")] == [
        "h1"
    ]
    rows = plan_rows("workorder:wo-1:due:accept:x", people, CHANNELS)
    assert [(r.idempotency_key, r.address) for r in rows] == [
        ("workorder:wo-1:due:accept:x:h1:in_app", "h1"),
        ("workorder:wo-1:due:accept:x:h1:sms", "+861"),
        ("workorder:wo-1:due:accept:x:lead:in_app", "lead"),  # no phone: the app only
    ]


# -- texts --------------------------------------------------------------------------------------


def variables(channel: ChannelKind, locale: Locale, **over: object) -> dict[str, str]:
    given: dict[str, object] = {
        "work_order_id": "5e6f7a8b-0000",
        "level": "red",
        "tier": "big",
        "assignee": None,
        "place": "Huamu Town",
        "sector": "Gas",
        "unit": "Huamu duty center",
        "to_me": False,
        "action": "transfer",
        "stage": "feedback",
        "due": DUE,
        "now": DUE - timedelta(minutes=150),
        "tz": TZ,
        "channel": channel,
        "locale": locale.value,
        **over,
    }
    return work_order_variables(**given)  # type: ignore[arg-type]


def test_work_order_variables_in_both_languages() -> None:
    zh = variables(ChannelKind.SMS, Locale.ZH_CN)
    assert {k: zh[k] for k in ("to", "action", "stage", "due", "left", "tier", "assignee")} == {
        "to": "Huamu duty center",
        "action": "转派给",
        "stage": "反馈",
        "due": "11-02 03:30",
        "left": "2小时30分钟",
        "tier": "大闭环",
        "assignee": "未指派",
    }
    en = variables(ChannelKind.VOICE, Locale.EN, to_me=True, assignee="h1", due=None)
    assert (en["to"], en["order_ref"], en["assignee"], en["due"], en["left"]) == (
        "you",
        "5 e 6 f 7 a 8 b",  # spelled for the voice
        "h1",
        "",
        "",
    )


def test_the_bulletin_lists_the_most_overdue_units_first() -> None:
    units = [UnitCount(f"unit {n}", n, 1) for n in range(12)]
    zh = bulletin_variables(
        week_start=datetime(2026, 11, 30, tzinfo=TZ),
        week_end=datetime(2026, 12, 7, tzinfo=TZ),
        units=units,
        tz=TZ,
        locale="zh-CN",
    )
    assert zh["week"] == "11-30至12-06"
    assert (zh["count"], zh["late"], zh["unit_count"]) == ("66", "12", "12")
    assert zh["units_short"] == "unit 11未结11迟结1、unit 10未结10迟结1、unit 9未结9迟结1等12个单位"
    assert zh["units"].endswith("等12个单位")


@pytest.mark.parametrize("key", sorted(WORK_ORDER_KEYS | {TemplateKey.BULLETIN}))
@pytest.mark.parametrize("locale", list(Locale))
def test_an_sms_about_work_orders_keeps_within_two_segments(
    key: TemplateKey, locale: Locale
) -> None:
    long_place = "某某某某某某某某某某某某某某某某街道" if locale is Locale.ZH_CN else "X" * 60
    if key is TemplateKey.BULLETIN:
        values = bulletin_variables(
            week_start=NOW,
            week_end=NOW + timedelta(days=7),
            units=[UnitCount(f"{long_place}{n}", n, n) for n in range(20)],
            tz=TZ,
            locale=locale.value,
        )
    else:
        values = variables(ChannelKind.SMS, locale, place=long_place, unit=long_place)
    text = Templates().render(key, ChannelKind.SMS, locale, values).text
    assert sms_segments(text) <= SMS_MAX_SEGMENTS, text
