"""Pure escalation logic: policies as data (ordered steps with targets, channels and waits, and
bounded repeats), the schedule they make, and the transitions of one alarm's escalation: start,
fire what is due, acknowledge, clear. No I/O, no framework imports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from riskwatch.common.access import Role
from riskwatch.common.events.base import Level
from riskwatch.notify.notifications.domain import ChannelKind

# Bounds of what an editor may ask: the loops are bounded, and a policy stays readable.
MAX_STEPS = 10
MAX_ROUNDS = 10
MAX_WAIT_MIN = 24 * 60


class TargetKind(StrEnum):
    ON_DUTY = "on_duty"  # the people on shift at the centers routing chose (fallbacks included)
    LEADER = "leader"  # the leaders of those centers
    DEPARTMENT_HEAD = "department_head"  # accounts with that role over the alarm's sector
    DISTRICT_LEADER = "district_leader"  # `leader` accounts over the whole district
    ROLE = "role"  # accounts with `role` over the alarm's district, sector or town (`over`)
    ROBOT = "robot"  # the group robots (WeCom / DingTalk) of the routed centers


class Over(StrEnum):
    """The scope a role target is looked for in, relative to the alarm's place."""

    DISTRICT = "district"
    SECTOR = "sector"
    TOWN = "town"


@dataclass(frozen=True, slots=True)
class Target:
    kind: TargetKind
    role: Role | None = None  # ROLE only
    over: Over | None = None  # ROLE only


@dataclass(frozen=True, slots=True)
class Step:
    """Fires `after_min` minutes after the escalation started (in its first round)."""

    after_min: float
    targets: tuple[Target, ...]
    channels: tuple[ChannelKind, ...]


@dataclass(frozen=True, slots=True)
class Repeat:
    """After the first round, steps `from_step`.. fire again every `every_min` minutes, `rounds`
    more times: round r fires step k at after_min(k) + r * every_min."""

    from_step: int
    every_min: float
    rounds: int


@dataclass(frozen=True, slots=True)
class Policy:
    steps: tuple[Step, ...]
    repeat: Repeat | None = None

    def due_at(self, started_at: datetime, step: int, round_: int) -> datetime:
        offset = self.steps[step].after_min + (
            round_ * self.repeat.every_min if self.repeat is not None and round_ else 0.0
        )
        return started_at + timedelta(minutes=offset)

    def following(self, step: int, round_: int) -> tuple[int, int] | None:
        """The (step, round) after this one in the schedule, None at its end."""
        if step + 1 < len(self.steps):
            return step + 1, round_
        if self.repeat is not None and round_ < self.repeat.rounds:
            return self.repeat.from_step, round_ + 1
        return None


class PolicyError(ValueError):
    """A policy an editor wrote that cannot be run; the text says what to change."""


def validate(policy: Policy) -> list[str]:
    """What is wrong with a policy, in words; empty when it can run."""
    problems: list[str] = []
    steps = policy.steps
    if not steps:
        return ["a policy needs at least one step"]
    if len(steps) > MAX_STEPS:
        problems.append(f"at most {MAX_STEPS} steps")
    for i, step in enumerate(steps):
        if not 0 <= step.after_min <= MAX_WAIT_MIN:
            problems.append(f"step {i + 1}: after_min must be within 0..{MAX_WAIT_MIN}")
        if i and step.after_min < steps[i - 1].after_min:
            problems.append(f"step {i + 1} comes before step {i}: after_min must not decrease")
        if not step.targets:
            problems.append(f"step {i + 1}: no targets")
        if not step.channels:
            problems.append(f"step {i + 1}: no channels")
        for target in step.targets:
            if target.kind is TargetKind.ROLE and (target.role is None or target.over is None):
                problems.append(f"step {i + 1}: a role target needs a role and over")
            if target.kind is TargetKind.ROBOT and ChannelKind.WEBHOOK not in step.channels:
                problems.append(f"step {i + 1}: a robot target needs the webhook channel")
    repeat = policy.repeat
    if repeat is not None:
        if not 0 <= repeat.from_step < len(steps):
            problems.append(f"repeat.from_step must be a step index within 0..{len(steps) - 1}")
        elif not 1 <= repeat.rounds <= MAX_ROUNDS:
            problems.append(f"repeat.rounds must be within 1..{MAX_ROUNDS}")
        else:
            span = steps[-1].after_min - steps[repeat.from_step].after_min
            if not span < repeat.every_min <= MAX_WAIT_MIN:
                problems.append(
                    f"repeat.every_min must be longer than the steps it repeats ({span:g} min) "
                    f"and at most {MAX_WAIT_MIN}, so that rounds never overlap"
                )
    return problems


# -- defaults -----------------------------------------------------------------------------------

_ON_DUTY = (Target(TargetKind.ON_DUTY),)
_APP_SMS = (ChannelKind.IN_APP, ChannelKind.SMS)
_APP_SMS_VOICE = (ChannelKind.IN_APP, ChannelKind.SMS, ChannelKind.VOICE)

# Seed 000 §五(四): at once to the street (and sector) duty center, then a phone reminder; then
# up the chain of command until someone answers.
DEFAULT_POLICIES: Mapping[Level, Policy] = {
    Level.RED: Policy(
        steps=(
            Step(0, (*_ON_DUTY, Target(TargetKind.ROBOT)), (*_APP_SMS, ChannelKind.WEBHOOK)),
            Step(3, _ON_DUTY, (ChannelKind.VOICE,)),
            Step(10, (Target(TargetKind.DEPARTMENT_HEAD),), _APP_SMS_VOICE),
            Step(20, (Target(TargetKind.DISTRICT_LEADER),), _APP_SMS_VOICE),
        ),
        repeat=Repeat(from_step=1, every_min=20, rounds=2),
    ),
    Level.ORANGE: Policy(
        steps=(
            Step(0, (*_ON_DUTY, Target(TargetKind.ROBOT)), (*_APP_SMS, ChannelKind.WEBHOOK)),
            Step(5, _ON_DUTY, (ChannelKind.VOICE,)),
            Step(15, (Target(TargetKind.LEADER),), _APP_SMS_VOICE),
            Step(30, (Target(TargetKind.DEPARTMENT_HEAD),), _APP_SMS),
        ),
        repeat=Repeat(from_step=1, every_min=30, rounds=1),
    ),
    Level.YELLOW: Policy(
        steps=(
            Step(0, _ON_DUTY, _APP_SMS),
            Step(15, (Target(TargetKind.LEADER),), _APP_SMS),
            Step(60, (Target(TargetKind.DEPARTMENT_HEAD),), (ChannelKind.IN_APP,)),
        ),
    ),
    Level.BLUE: Policy(
        steps=(
            Step(0, _ON_DUTY, _APP_SMS),
            Step(60, (Target(TargetKind.LEADER),), (ChannelKind.IN_APP,)),
        ),
    ),
}


# -- one alarm's escalation ---------------------------------------------------------------------


class EscalationStatus(StrEnum):
    ACTIVE = "active"  # a step is still to come
    ACKNOWLEDGED = "acknowledged"  # someone answered: no more steps
    ACCEPTED = "accepted"  # its work order was accepted (接单): someone is on it
    CLEARED = "cleared"  # the alarm is over
    EXHAUSTED = "exhausted"  # every step and round fired, nobody answered


@dataclass(frozen=True, slots=True)
class EscalationState:
    status: EscalationStatus
    started_at: datetime
    next_step: int
    round: int
    next_step_at: datetime | None

    @property
    def stopped(self) -> bool:
        return self.status is not EscalationStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class Fired:
    """A step that fires now: whom and how it notifies are in `policy.steps[step]`."""

    step: int
    round: int
    due_at: datetime


def start(policy: Policy, *, now: datetime) -> EscalationState:
    """A new escalation, its first step due at once (or after its wait)."""
    return EscalationState(
        status=EscalationStatus.ACTIVE,
        started_at=now,
        next_step=0,
        round=0,
        next_step_at=policy.due_at(now, 0, 0),
    )


@dataclass(frozen=True, slots=True)
class Advance:
    state: EscalationState
    fired: list[Fired] = field(default_factory=list)


def fire_due(state: EscalationState, policy: Policy, *, now: datetime) -> Advance:
    """Every step due by `now`, in schedule order, and the state after them. A stopped
    escalation fires nothing; late steps (the worker was down) all fire, each once."""
    fired: list[Fired] = []
    current = state
    while (
        current.status is EscalationStatus.ACTIVE
        and current.next_step_at is not None
        and current.next_step_at <= now
    ):
        fired.append(Fired(current.next_step, current.round, current.next_step_at))
        following = policy.following(current.next_step, current.round)
        if following is None:
            current = replace(current, status=EscalationStatus.EXHAUSTED, next_step_at=None)
        else:
            step, round_ = following
            current = replace(
                current,
                next_step=step,
                round=round_,
                next_step_at=policy.due_at(current.started_at, step, round_),
            )
    return Advance(current, fired)


def acknowledge(state: EscalationState) -> EscalationState:
    """Someone answered: no further step. A stopped escalation stays as it is."""
    if state.stopped:
        return state
    return replace(state, status=EscalationStatus.ACKNOWLEDGED, next_step_at=None)


def accept(state: EscalationState) -> EscalationState:
    """Its work order was accepted: whoever took it has the alarm, no further step. A stopped
    escalation stays as it is."""
    if state.stopped:
        return state
    return replace(state, status=EscalationStatus.ACCEPTED, next_step_at=None)


def clear(state: EscalationState) -> EscalationState:
    """The alarm is over: no further step. A stopped escalation stays as it is."""
    if state.stopped:
        return state
    return replace(state, status=EscalationStatus.CLEARED, next_step_at=None)


def schedule(policy: Policy, started_at: datetime) -> list[Fired]:
    """Every (step, round) the policy fires and when, nobody answering."""
    out = [Fired(0, 0, policy.due_at(started_at, 0, 0))]
    following = policy.following(0, 0)
    while following is not None:
        step, round_ = following
        out.append(Fired(step, round_, policy.due_at(started_at, step, round_)))
        following = policy.following(step, round_)
    return out


# -- (de)serialisation of policies as stored and edited -----------------------------------------


def policy_to_json(policy: Policy) -> dict[str, Any]:
    return {
        "steps": [
            {
                "after_min": s.after_min,
                "targets": [
                    {
                        "kind": t.kind.value,
                        **({"role": t.role.value} if t.role else {}),
                        **({"over": t.over.value} if t.over else {}),
                    }
                    for t in s.targets
                ],
                "channels": [c.value for c in s.channels],
            }
            for s in policy.steps
        ],
        "repeat": (
            None
            if policy.repeat is None
            else {
                "from_step": policy.repeat.from_step,
                "every_min": policy.repeat.every_min,
                "rounds": policy.repeat.rounds,
            }
        ),
    }


def policy_from_json(data: Mapping[str, Any]) -> Policy:
    repeat = data.get("repeat")
    return Policy(
        steps=tuple(
            Step(
                after_min=float(s["after_min"]),
                targets=tuple(
                    Target(
                        TargetKind(t["kind"]),
                        Role(t["role"]) if t.get("role") else None,
                        Over(t["over"]) if t.get("over") else None,
                    )
                    for t in s["targets"]
                ),
                channels=tuple(ChannelKind(c) for c in s["channels"]),
            )
            for s in data["steps"]
        ),
        repeat=(
            None
            if not repeat
            else Repeat(int(repeat["from_step"]), float(repeat["every_min"]), int(repeat["rounds"]))
        ),
    )


def policies_to_json(policies: Mapping[Level, Policy]) -> dict[str, Any]:
    return {level.value: policy_to_json(policies[level]) for level in Level if level in policies}


def policies_from_json(data: Mapping[str, Any]) -> dict[Level, Policy]:
    """Stored policies; a level missing from them keeps its default."""
    stored = {Level(k): policy_from_json(v) for k, v in data.items()}
    return {level: stored.get(level, DEFAULT_POLICIES[level]) for level in Level}
