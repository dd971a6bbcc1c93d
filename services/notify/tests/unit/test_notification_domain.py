"""Planning an escalation step's notifications, SMS lengths, and retries: pure functions, no
I/O. (What a message says is the templates': test_templates_domain.)"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from riskwatch.notify.duty.domain import ShiftSpan, on_duty
from riskwatch.notify.notifications.domain import (
    GSM_SEGMENT,
    UCS2_SEGMENT,
    ChannelKind,
    PlannedNotification,
    Recipient,
    Status,
    after_failure,
    plan_step,
    robot_person_id,
    sms_length,
)

from .. import factories as f


def on_duty_recipient(person_id: str, center: str = "c") -> Recipient:
    person = f.person_on_duty(person_id, center)
    return Recipient(center, person.person_id, person.phone, person.email, person.locale)


def plan(
    recipients: list[Recipient],
    channels: tuple[ChannelKind, ...] = (ChannelKind.IN_APP, ChannelKind.SMS),
    *,
    alarm_id: str = "1a2b3c4d-0000-0000-0000-000000000000",
    level: str = "red",
    step: int = 0,
    round_: int = 0,
) -> list[PlannedNotification]:
    return plan_step(
        alarm_id, level, step=step, round_=round_, recipients=recipients, channels=channels
    )


def test_every_recipient_gets_each_channel_of_the_step() -> None:
    planned = plan(
        [on_duty_recipient("l1", "street-lujiazui"), on_duty_recipient("d1", "district")]
    )
    assert [(p.duty_center_id, p.person_id, p.channel) for p in planned] == [
        ("street-lujiazui", "l1", ChannelKind.IN_APP),
        ("street-lujiazui", "l1", ChannelKind.SMS),
        ("district", "d1", ChannelKind.IN_APP),
        ("district", "d1", ChannelKind.SMS),
    ]
    sms = planned[1]
    assert sms.recipient == f.phone_of("l1")
    assert sms.idempotency_key == "1a2b3c4d-0000-0000-0000-000000000000:red:0.0:l1:sms"
    assert planned[0].recipient == "l1"


def test_someone_listed_twice_is_told_once_for_the_first() -> None:
    planned = plan([on_duty_recipient("x", "street-lujiazui"), on_duty_recipient("x", "sector")])
    assert {p.duty_center_id for p in planned} == {"street-lujiazui"}
    assert len(planned) == 2


def test_a_channel_that_cannot_reach_someone_is_left_out() -> None:
    robot = Recipient("street-lujiazui", robot_person_id("street-lujiazui"), robot_url="wecom:u")
    no_phone = Recipient("district", "mayor")  # an account without a person record
    everything = tuple(ChannelKind)
    planned = plan([robot, no_phone], everything)
    assert [(p.person_id, p.channel, p.recipient) for p in planned] == [
        ("robot:street-lujiazui", ChannelKind.WEBHOOK, "wecom:u"),
        ("mayor", ChannelKind.IN_APP, "mayor"),
    ]


def test_each_step_round_and_level_makes_new_keys_and_a_repeat_the_same() -> None:
    people = [on_duty_recipient("p")]
    first = {p.idempotency_key for p in plan(people)}
    assert first == {p.idempotency_key for p in plan(people)}
    others = [
        plan(people, level="orange"),
        plan(people, step=1),
        plan(people, step=1, round_=1),
    ]
    keys = [first, *({p.idempotency_key for p in o} for o in others)]
    assert sum(len(k) for k in keys) == len(set().union(*keys))


people_st = st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=5)


@given(
    st.dictionaries(st.sampled_from(["c1", "c2", "c3"]), people_st, max_size=3),
    st.sets(st.sampled_from(list(ChannelKind)), min_size=1),
)
def test_planned_keys_are_unique_and_cover_every_person_and_reachable_channel(
    roster: dict[str, list[str]], channels: set[ChannelKind]
) -> None:
    recipients = [on_duty_recipient(p, c) for c, ps in roster.items() for p in ps]
    planned = plan(recipients, tuple(sorted(channels)))
    keys = [p.idempotency_key for p in planned]
    assert len(keys) == len(set(keys))
    everyone = {p for ps in roster.values() for p in ps}
    reachable = channels - {ChannelKind.WEBHOOK, ChannelKind.EMAIL}  # phone and app only
    assert {(p.person_id, p.channel) for p in planned} == {
        (person, channel) for person in everyone for channel in reachable
    }


offsets = st.integers(min_value=-24 * 60, max_value=24 * 60)


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "d"]), offsets, st.integers(1, 16 * 60)),
        max_size=10,
    ),
    offsets,
)
def test_nobody_off_shift_is_ever_notified(shifts: list[tuple[str, int, int]], minute: int) -> None:
    at = f.NOW + timedelta(minutes=minute)
    spans = [
        ShiftSpan(
            f"s{i}",
            "c",
            person,
            f.NOW + timedelta(minutes=start),
            f.NOW + timedelta(minutes=start + length),
        )
        for i, (person, start, length) in enumerate(shifts)
    ]
    recipients = [Recipient("c", s.person_id, "+8610000000000") for s in on_duty(spans, at)]
    planned = plan(recipients)
    covering = {s.person_id for s in spans if s.starts_at <= at < s.ends_at}
    assert {p.person_id for p in planned} == covering


def test_sms_length_counts_septets_and_switches_to_ucs2() -> None:
    assert sms_length("abc") == (3, GSM_SEGMENT)
    assert sms_length("[a]") == (5, GSM_SEGMENT)  # brackets are GSM extension characters
    assert sms_length("陆家嘴") == (3, UCS2_SEGMENT)
    assert sms_length("😀") == (2, UCS2_SEGMENT)  # a surrogate pair


def test_failures_back_off_then_give_up() -> None:
    now = f.NOW
    decisions = [
        # The cap of each wait: a jitter that always picks the top of its range.
        after_failure(
            attempts=n, max_attempts=4, now=now, initial_s=2, maximum_s=5, jitter=lambda _, b: b
        )
        for n in (1, 2, 3, 4)
    ]
    assert [d.status for d in decisions] == [Status.PENDING] * 3 + [Status.FAILED]
    assert [d.next_attempt_at for d in decisions] == [
        now + timedelta(seconds=2),
        now + timedelta(seconds=4),
        now + timedelta(seconds=5),
        None,
    ]
    assert [d.will_retry for d in decisions] == [True, True, True, False]


@given(
    st.integers(min_value=1, max_value=100),
    st.integers(min_value=1, max_value=20),
    st.floats(min_value=0.01, max_value=60),
    st.floats(min_value=0.01, max_value=3600),
)
def test_a_retry_is_bounded_and_only_while_attempts_are_left(
    attempts: int, max_attempts: int, initial: float, maximum: float
) -> None:
    d = after_failure(
        attempts=attempts,
        max_attempts=max_attempts,
        now=f.NOW,
        initial_s=initial,
        maximum_s=maximum,
    )
    assert d.will_retry == (attempts < max_attempts)
    if d.next_attempt_at is not None:
        assert f.NOW < d.next_attempt_at <= f.NOW + timedelta(seconds=maximum)
