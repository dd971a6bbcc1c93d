"""The escalation case's policy and checks: red alarms escalate after a short wait, and notify
is killed (kill -9) while their escalations wait for that step.

The policy (a new version over PUT /api/v1/escalation-policies, for the case only) sends each red
alarm's first notices at once (step 0: in-app and SMS to the people on duty, as the default
does) and a second step `WAIT_S` later to the same people in the app, by SMS and by voice call;
nothing after it, so an escalation whose second step fired is `exhausted`. Escalations keep
the policy version they started with, so the alarms of the other cases are not touched.

Once the case settled, `verify_step_one` reads PostgreSQL and the outbox files of notify's file
providers (SMS, voice): every escalation of the case's alarms ran on the case's version and
fired its second step exactly once: one notification per person on duty and channel (the people
of step 0), all delivered, none before its due time, and one SMS line and one voice line per
person, each with its own idempotency key. It also counts what makes the case a test of the
wait: escalations whose first notices went out before the kill and whose second step was due
after it, and those whose second step fell due while notify was dead (fired late, once).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from .case import Case, Check, outbox_keys
from .rig import Database

WAIT_S = 20.0
STEP_ONE = (1, 0)  # (step, round) of the step the escalations wait for
STEP_ONE_CHANNELS = ("in_app", "sms", "voice")
SHORT_RED: dict[str, Any] = {
    "steps": [
        {"after_min": 0, "targets": [{"kind": "on_duty"}], "channels": ["in_app", "sms"]},
        {
            "after_min": WAIT_S / 60,
            "targets": [{"kind": "on_duty"}],
            "channels": list(STEP_ONE_CHANNELS),
        },
    ],
    "repeat": None,
}
# Due as notify computes it (escalation.domain.Policy.due_at): started_at + after_min minutes.
STEP_ONE_AFTER = timedelta(minutes=SHORT_RED["steps"][1]["after_min"])

_ESCALATIONS = """
SELECT a.alarm_id, e.status, e.policy_version, e.started_at
FROM alerting.alarm a LEFT JOIN notify.escalation e USING (alarm_id)
WHERE a.device_id = ANY($1::text[])
"""

_NOTIFICATIONS = """
SELECT n.alarm_id, n.step, n.round, n.person_id, n.channel, n.status, n.created_at
FROM notify.notification n JOIN alerting.alarm a USING (alarm_id)
WHERE a.device_id = ANY($1::text[])
"""

_WAITING = """
SELECT count(*) AS alarms,
       count(e.alarm_id) AS escalations,
       count(*) FILTER (WHERE e.status = 'active') AS active,
       (SELECT count(*) FROM notify.notification n JOIN alerting.alarm a2 USING (alarm_id)
        WHERE a2.device_id = ANY($1::text[]) AND n.step = $2 AND n.round = $3
          AND n.status IN ('pending', 'sending')) AS unsettled
FROM alerting.alarm a LEFT JOIN notify.escalation e USING (alarm_id)
WHERE a.device_id = ANY($1::text[])
"""


def step_one_settled(case: Case, db: Database) -> Check:
    """A check for the case's settling: every alarm's escalation exists and ran out, and none
    of its second step's notifications is still pending or sending."""

    async def escalations_ran_out() -> str | None:
        row = await db.fetchrow(_WAITING, case.devices + case.extra_devices, *STEP_ONE)
        assert row is not None
        if row["escalations"] == row["alarms"] and row["active"] == 0 and row["unsettled"] == 0:
            return None
        return (
            f"escalations {row['escalations']} of {row['alarms']} alarms, {row['active']} "
            f"still active, {row['unsettled']} second-step notifications unsettled"
        )

    return escalations_ran_out


async def verify_step_one(
    case: Case, db: Database, *, version: int, killed_at: float, ready_at: float
) -> None:
    """Record the second step's figures as the case's notes and every discrepancy as one of
    its problems. `killed_at` and `ready_at`: epoch seconds of the kill and of notify answering
    again after its restart."""
    devices = case.devices + case.extra_devices
    escalations = await db.fetch(_ESCALATIONS, devices)
    rows = await db.fetch(_NOTIFICATIONS, devices)
    killed = datetime.fromtimestamp(killed_at, UTC)
    ready = datetime.fromtimestamp(ready_at, UTC)

    by_alarm: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        by_alarm[r["alarm_id"]].append(r)
    problems: list[str] = []
    in_wait = due_while_down = 0
    late: list[float] = []
    second_total = 0
    step_one_sms: set[tuple[str, str]] = set()
    step_one_voice: set[tuple[str, str]] = set()
    for esc in escalations:
        alarm_id = esc["alarm_id"]
        if esc["status"] is None:
            problems.append(f"{alarm_id}: no escalation")
            continue
        if esc["policy_version"] != version or esc["status"] != "exhausted":
            problems.append(
                f"{alarm_id}: escalation {esc['status']} on policy version "
                f"{esc['policy_version']}, expected exhausted on version {version}"
            )
        mine = by_alarm.get(alarm_id, [])
        stages = {(r["step"], r["round"]) for r in mine}
        if not stages <= {(0, 0), STEP_ONE}:
            problems.append(f"{alarm_id}: notifications of steps {sorted(stages)}")
        first = [r for r in mine if (r["step"], r["round"]) == (0, 0)]
        second = [r for r in mine if (r["step"], r["round"]) == STEP_ONE]
        second_total += len(second)
        on_duty = {r["person_id"] for r in first}
        got = Counter((r["person_id"], r["channel"]) for r in second)
        want = {(p, c) for p in on_duty for c in STEP_ONE_CHANNELS}
        if set(got) != want or any(n != 1 for n in got.values()):
            problems.append(
                f"{alarm_id}: second step {sorted(got.items())}, expected once each of "
                f"{sorted(want)}"
            )
        undelivered = sorted({r["status"] for r in second} - {"delivered"})
        if undelivered:
            problems.append(f"{alarm_id}: second-step notifications {undelivered}")
        due = esc["started_at"] + STEP_ONE_AFTER
        if second:
            fired = min(r["created_at"] for r in second)
            if fired < due:
                problems.append(
                    f"{alarm_id}: second step fired {(due - fired).total_seconds()} s early"
                )
            late.append((fired - due).total_seconds())
        if first and min(r["created_at"] for r in first) < killed < due:
            in_wait += 1
        if killed <= due < ready:
            due_while_down += 1
        for r in second:
            if r["channel"] == "sms":
                step_one_sms.add((alarm_id, r["person_id"]))
            elif r["channel"] == "voice":
                step_one_voice.add((alarm_id, r["person_id"]))

    alarm_ids = {e["alarm_id"] for e in escalations}
    lines = {
        "sms": (outbox_keys(case.rig.sms_file, alarm_ids, STEP_ONE), step_one_sms),
        "voice": (outbox_keys(case.rig.voice_file, alarm_ids, STEP_ONE), step_one_voice),
    }
    for channel, (keys, notified) in lines.items():
        repeated = sorted(k for k, n in Counter(keys).items() if n > 1)
        case.expect(not repeated, f"second-step {channel} lines written twice: {repeated[:5]}")
        # A key is alarm:level:round.step:person:channel.
        written = {(k.split(":", 3)[0], k.split(":", 3)[3].rsplit(":", 1)[0]) for k in keys}
        case.expect(
            written == notified and len(keys) == len(notified),
            f"{len(keys)} second-step {channel} lines for {len(written)} (alarm, person), "
            f"{len(notified)} second-step {channel} notifications",
        )

    case.note(
        "step_one",
        {
            "policy_version": version,
            "alarms": len(escalations),
            "in_wait_at_kill": in_wait,
            "due_while_down": due_while_down,
            "notifications": second_total,
            "sms_lines": len(lines["sms"][0]),
            "voice_lines": len(lines["voice"][0]),
            "late_s_max": round(max(late), 2) if late else None,
        },
    )
    case.problems.extend(problems[:10])
    if len(problems) > 10:
        case.problems.append(f"... and {len(problems) - 10} more escalation problems")
    case.expect(
        in_wait > 0,
        "no escalation had sent its first notices and was waiting for its second step at the "
        "kill: the case did not test a wait",
    )
    case.expect(
        due_while_down > 0,
        "no second step fell due while notify was down: the case did not test a late step",
    )
