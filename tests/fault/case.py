"""One fault case: fresh devices, a steady load with known red breaches, one fault, then the
wait until the platform settles and the exact counts, read straight from PostgreSQL.

`run_case` checks the stack is healthy, registers the case's devices, runs the gateways and
the case's fault side by side, waits (bounded) until every breach has its alarm, work order,
six delivered first notices, three SMS lines and its reporting projections, and collects the
figures. The notices counted are an alarm's first ones (its escalation's step 0, round 0): the
later steps of its escalation notify again, minutes later, and are no part of these counts.
Nothing is asserted there: every discrepancy becomes a line of `Case.problems`, and
`Results.finish` records the case (results file, terminal line) and then fails it if any.

Times: the load starts at 0; `inject` and `end` mark when the fault began and when it was
removed (service started again, broker or server started, process resumed, proxy passing
through). Recovery = the last delivery of the notifications of every breach measured before
the fault ended, minus the fault's end (0 when they were all delivered by then).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from .gateway import (
    GIVE_UP_AFTER_S,
    Batch,
    Gateway,
    Ledger,
    Readings,
    breach_schedule,
    deliver,
)
from .rig import (
    DB_ERRORS,
    FIRST_NOTICE,
    NOTIFICATIONS_PER_ALARM,
    SERVICE_NAMES,
    SMS_PER_ALARM,
    Database,
    Rig,
    dump_json,
)

HEALTH_TIMEOUT_S = 90.0
SETTLE_POLL_S = 1.0
# After the counts first match: wait this long and count again, so that a late duplicate
# (an alarm raised twice, a notification sent again) is seen.
QUIET_S = 3.0


@dataclass(frozen=True)
class Plan:
    """The shape of a case's load. Readings/s = gateways x devices_per_gateway x
    batches_per_s (600 by default: two gateways of 100 devices, three batches a second)."""

    name: str
    title: str
    load_s: float
    breaches: int = 30
    gateways: int = 2
    devices_per_gateway: int = 100
    batches_per_s: float = 3.0
    extra_devices: int = 0  # registered for the fault itself to use (backlog, burst)
    restarts: tuple[str, ...] = ()  # services the case itself starts again, once each
    settle_timeout_s: float = 180.0


Check = Callable[[], Awaitable[str | None]]


@dataclass
class Case:
    """A running case: what the fault callback uses, and what the case found."""

    rig: Rig
    plan: Plan
    ledger: Ledger
    client: httpx.AsyncClient
    devices: list[str]
    extra_devices: list[str]
    started_wall: float = 0.0  # the load's start, epoch seconds
    started: float = 0.0  # the same, monotonic
    injected_at: float | None = None  # seconds after the load's start
    ended_at: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)  # more to wait for, case-specific
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    readings: Readings = field(default_factory=lambda: Readings(seed=7))

    # -- for the fault callback -----------------------------------------------------------

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    async def at(self, seconds: float) -> None:
        """Sleep until `seconds` after the load's start."""
        await asyncio.sleep(max(0.0, self.started + seconds - time.monotonic()))

    def inject(self, what: str) -> None:
        self.injected_at = self.elapsed()
        self.notes["fault"] = what

    def end(self, what: str) -> None:
        self.ended_at = self.elapsed()
        self.notes["fault_end"] = what

    def note(self, key: str, value: Any) -> None:
        self.notes[key] = round(value, 2) if isinstance(value, float) else value

    def expect(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)

    def batch(self, devices: list[str], red: list[str]) -> Batch:
        return self.readings.batch(devices, red)

    async def send(self, batch: Batch) -> None:
        """Deliver one extra batch as a gateway would (retried until ingest takes it)."""
        await deliver(self.client, batch, self.ledger)


Fault = Callable[[Case], Awaitable[None]]


async def run_case(rig: Rig, plan: Plan, fault: Fault | None) -> Case:
    """Run `plan` with `fault` against the rig; see the module docstring."""
    case_started = time.monotonic()
    tag = f"{plan.name}-{uuid.uuid4().hex[:4]}"
    n_steady = plan.gateways * plan.devices_per_gateway
    ids = [f"fault-{tag}-{i:04d}" for i in range(n_steady + plan.extra_devices)]
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=50)
    async with httpx.AsyncClient(
        base_url=rig.ingest_url,
        headers={**rig.headers, "Content-Type": "application/json"},
        timeout=30.0,
        limits=limits,
        trust_env=False,
    ) as client:
        case = Case(rig, plan, Ledger(), client, ids[:n_steady], ids[n_steady:])
        unhealthy = await rig.health(HEALTH_TIMEOUT_S)
        if unhealthy:
            case.problems.append(
                f"the stack was not healthy before the case (after {HEALTH_TIMEOUT_S:.0f} s): "
                + "; ".join(unhealthy)
            )
            case.figures["case_s"] = round(time.monotonic() - case_started, 1)
            return case
        try:
            await rig.register(ids, site=f"Fault {plan.name} well")
        except (AssertionError, httpx.HTTPError) as exc:
            case.problems.append(f"could not register the case's devices: {exc}")
            case.figures["case_s"] = round(time.monotonic() - case_started, 1)
            return case
        starts = dict(rig.stack.starts)
        offsets = {name: _size(rig.log_of(name)) for name in SERVICE_NAMES}
        try:
            await _load_and_fault(case, fault)
        finally:
            # A case never leaves its fault behind, even when it failed half-way.
            rig.proxy.pass_through()
            rig.thaw(*SERVICE_NAMES)
        load_done = time.monotonic()
        try:
            await _settle(case)
        except Exception:  # recorded with the case's other figures, not lost
            case.problems.append("settling failed:\n" + traceback.format_exc(limit=-4))
        case.figures["settle_s"] = round(time.monotonic() - load_done, 1)
        await _restarts_and_health(case, starts)
        case.figures["log_events"] = {
            name: events
            for name in SERVICE_NAMES
            if (events := _log_events(rig.log_of(name), offsets[name]))
        }
    case.figures["case_s"] = round(time.monotonic() - case_started, 1)
    return case


async def _load_and_fault(case: Case, fault: Fault | None) -> None:
    plan = case.plan
    breaching = case.devices[:: max(1, len(case.devices) // plan.breaches)][: plan.breaches]
    schedule = breach_schedule(breaching, plan.load_s)
    step = plan.devices_per_gateway
    gateways = [
        Gateway(
            case.client,
            case.ledger,
            devices,
            {d: at for d, at in schedule.items() if d in devices},
            batches_per_s=plan.batches_per_s,
            seconds=plan.load_s,
            seed=g,
        )
        for g, devices in enumerate(
            case.devices[i : i + step] for i in range(0, len(case.devices), step)
        )
    ]
    case.started_wall, case.started = time.time(), time.monotonic()
    case.ledger.give_up_at = case.started + plan.load_s + GIVE_UP_AFTER_S
    load = asyncio.gather(*(g.run(case.started) for g in gateways))
    try:
        if fault is not None:
            await fault(case)
    except Exception as exc:
        case.problems.append(f"the fault could not be injected or removed: {exc!r}")
        load.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await load
        return
    await load
    case.figures["load_s"] = round(case.elapsed(), 1)
    case.figures["planned_breaches"] = len(breaching)


# -- settling and counting --------------------------------------------------------------------

# Notifications of the case's alarms: their first notices only ($2 step, $3 round; reporting's
# projection has no step, so its rows are matched to notify's by id).
_COUNTS = """
WITH a AS (SELECT alarm_id FROM alerting.alarm WHERE device_id = ANY($1::text[])),
     n AS (SELECT notify.notification.* FROM notify.notification JOIN a USING (alarm_id)
           WHERE step = $2 AND round = $3)
SELECT
  (SELECT count(*) FROM a) AS alarms,
  (SELECT count(*) FROM workorder.work_order WHERE device_id = ANY($1::text[])) AS work_orders,
  (SELECT count(*) FROM n) AS notifications,
  (SELECT count(*) FROM n WHERE status = 'delivered') AS delivered,
  (SELECT count(DISTINCT (alarm_id, person_id, channel)) FROM n) AS distinct_notifications,
  (SELECT count(*) FROM reporting.alarm_view WHERE device_id = ANY($1::text[])) AS report_alarms,
  (SELECT count(*) FROM reporting.work_order_view
    WHERE device_id = ANY($1::text[])) AS report_work_orders,
  (SELECT count(*) FROM reporting.notification_view v JOIN n USING (notification_id)
    WHERE v.status = 'delivered') AS report_delivered
"""

_PER_ALARM = """
SELECT a.alarm_id, a.device_id, a.level,
       EXTRACT(EPOCH FROM a.raised_at)::float8 AS raised_at,
       (SELECT count(*) FROM workorder.work_order w WHERE w.alarm_id = a.alarm_id) AS work_orders,
       count(n.notification_id) AS notifications,
       count(n.notification_id) FILTER (WHERE n.channel = 'sms') AS sms,
       EXTRACT(EPOCH FROM max(n.delivered_at))::float8 AS last_delivered
FROM alerting.alarm a
LEFT JOIN notify.notification n ON n.alarm_id = a.alarm_id AND n.step = $2 AND n.round = $3
WHERE a.device_id = ANY($1::text[])
GROUP BY a.alarm_id, a.device_id, a.level, a.raised_at
"""

_READINGS = "SELECT count(*) FROM ingest.reading WHERE device_id = ANY($1::text[])"


def _expected(case: Case) -> dict[str, int]:
    n = len(case.ledger.breaches)
    return {
        "alarms": n,
        "work_orders": n,
        "notifications": NOTIFICATIONS_PER_ALARM * n,
        "delivered": NOTIFICATIONS_PER_ALARM * n,
        "distinct_notifications": NOTIFICATIONS_PER_ALARM * n,
        "report_alarms": n,
        "report_work_orders": n,
        "report_delivered": NOTIFICATIONS_PER_ALARM * n,
        "sms_lines": SMS_PER_ALARM * n,
        "sms_keys": SMS_PER_ALARM * n,
    }


async def _counts(case: Case, db: Database) -> dict[str, int]:
    devices = case.devices + case.extra_devices
    row = await db.fetchrow(_COUNTS, devices, *FIRST_NOTICE)
    assert row is not None
    counts = {k: int(v) for k, v in dict(row).items()}
    alarm_ids = [
        r["alarm_id"]
        for r in await db.fetch(
            "SELECT alarm_id FROM alerting.alarm WHERE device_id = ANY($1::text[])", devices
        )
    ]
    keys = outbox_keys(case.rig.sms_file, set(alarm_ids), FIRST_NOTICE)
    counts["sms_lines"], counts["sms_keys"] = len(keys), len(set(keys))
    return counts


def outbox_keys(path: Path, alarm_ids: set[str], stage: tuple[int, int]) -> list[str]:
    """The idempotency keys of the lines of a file provider's outbox (SMS, voice) for these
    alarms at `stage` (step, round), one per line, repeats kept. A key is
    `alarm:level:round.step:person:channel` (notifications.domain.idempotency_key)."""
    step, round_ = stage
    keys: list[str] = []
    with contextlib.suppress(FileNotFoundError), path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                key = str(json.loads(line)["idempotency_key"])
            except (ValueError, KeyError, TypeError):
                continue
            parts = key.split(":", 3)
            if len(parts) == 4 and parts[0] in alarm_ids and parts[2] == f"{round_}.{step}":
                keys.append(key)
    return keys


async def _settle(case: Case) -> None:
    expected = _expected(case)
    db = Database(case.rig.dsn)
    started = time.monotonic()
    counts: dict[str, int] = {}
    pending: list[str] = []
    try:
        while True:
            try:
                counts = await _counts(case, db)
            except DB_ERRORS as exc:
                pending = [f"database: {type(exc).__name__}"]
            else:
                pending = [f"{k} {counts[k]} of {v}" for k, v in expected.items() if counts[k] != v]
                for check in case.checks:
                    try:
                        missing = await check()
                    except Exception as exc:
                        missing = f"{check.__name__}: {exc!r}"
                    if missing is not None:
                        pending.append(missing)
                over = [k for k, v in expected.items() if counts[k] > v]
                if not pending or over:
                    break
            if time.monotonic() - started > case.plan.settle_timeout_s:
                case.problems.append(
                    f"did not settle within {case.plan.settle_timeout_s:.0f} s: "
                    + "; ".join(pending)
                )
                break
            await asyncio.sleep(SETTLE_POLL_S)
        case.figures["settled_after_s"] = round(time.monotonic() - started, 1)
        if not pending:
            await asyncio.sleep(QUIET_S)
            counts = await _counts(case, db)
        await _exact(case, db, counts, expected)
    finally:
        await db.close()


async def _exact(
    case: Case, db: Database, counts: dict[str, int], expected: dict[str, int]
) -> None:
    """Every count exact, every alarm with its own work order, six first notices, three SMS."""
    ledger = case.ledger
    case.figures["counts"] = counts
    case.figures["expected"] = expected
    case.figures["gateway"] = ledger.summary()
    for key, want in expected.items():
        got = counts.get(key)
        case.expect(got == want, f"{key}: {got}, expected exactly {want}")
    planned = case.figures.get("planned_breaches", 0) + case.notes.get("extra_breaches", 0)
    case.expect(
        len(ledger.breaches) == planned,
        f"{planned} breaches planned, {len(ledger.breaches)} taken by ingest",
    )
    case.expect(not ledger.unexpected, f"answers a gateway should not get: {ledger.unexpected[:5]}")
    case.expect(
        ledger.retry_after_missing == 0,
        f"{ledger.retry_after_missing} 429/503 answers came without Retry-After",
    )
    try:
        stored = await db.fetchrow(_READINGS, case.devices + case.extra_devices)
        rows = await db.fetch(_PER_ALARM, case.devices + case.extra_devices, *FIRST_NOTICE)
    except DB_ERRORS as exc:
        case.problems.append(f"could not read the final figures: {exc!r}")
        return
    assert stored is not None
    case.figures["readings_stored"] = int(stored[0])
    case.expect(
        int(stored[0]) == ledger.readings,
        f"ingest stored {stored[0]} readings of the case's devices, the gateways sent "
        f"{ledger.readings} distinct readings",
    )
    by_device = Counter(r["device_id"] for r in rows)
    twice = sorted(d for d, k in by_device.items() if k > 1)
    case.expect(not twice, f"devices with more than one alarm: {twice[:5]}")
    missing = sorted(set(ledger.breaches) - set(by_device))
    case.expect(not missing, f"{len(missing)} breaches without an alarm: {missing[:5]}")
    unplanned = sorted(set(by_device) - set(ledger.breaches))
    case.expect(not unplanned, f"alarms of devices that never breached: {unplanned[:5]}")
    odd = [
        r["alarm_id"]
        for r in rows
        if r["work_orders"] != 1
        or r["notifications"] != NOTIFICATIONS_PER_ALARM
        or r["sms"] != SMS_PER_ALARM
        or r["level"] != "red"
    ]
    case.expect(
        not odd,
        f"{len(odd)} alarms without exactly 1 work order, 6 first notices "
        f"(3 SMS) at red: {odd[:5]}",
    )
    _timing(case, rows)


def _timing(case: Case, rows: list[Any]) -> None:
    """Latency of each breach (measured -> its last first notice delivered) and recovery."""
    last = {r["device_id"]: r["last_delivered"] for r in rows if r["last_delivered"]}
    latencies = sorted(
        last[d] - measured for d, measured in case.ledger.breaches.items() if d in last
    )
    if latencies:
        case.figures["latency_s"] = {
            "p50": round(latencies[len(latencies) // 2], 2),
            "max": round(latencies[-1], 2),
        }
    if case.injected_at is None:
        return
    end = case.ended_at if case.ended_at is not None else case.injected_at
    injected_wall = case.started_wall + case.injected_at
    end_wall = case.started_wall + end
    measured = case.ledger.breaches
    before_end = [d for d, at in measured.items() if at < end_wall]
    delivered = [last[d] for d in before_end if d in last]
    case.figures["fault"] = {
        "injected_s": round(case.injected_at, 1),
        "ended_s": round(end, 1),
        # Breaches measured before the fault, while it lasted, and after it ended.
        "breaches": [
            sum(1 for at in measured.values() if at < injected_wall),
            sum(1 for at in measured.values() if injected_wall <= at < end_wall),
            sum(1 for at in measured.values() if at >= end_wall),
        ],
    }
    if delivered:
        case.figures["recovery_s"] = round(max(0.0, max(delivered) - end_wall), 1)
        case.figures["since_injection_s"] = round(max(0.0, max(delivered) - injected_wall), 1)


async def _restarts_and_health(case: Case, starts: dict[str, int]) -> None:
    """No process started again but those the case restarted; all alive and live."""
    rig = case.rig
    for name in SERVICE_NAMES:
        want = starts.get(name, 0) + case.plan.restarts.count(name)
        got = rig.stack.starts.get(name, 0)
        case.expect(got == want, f"{name} was started {got - starts.get(name, 0)} times")
    problems = await rig.health(timeout=15.0)
    case.expect(not problems, "after the case: " + "; ".join(problems))


# -- logs -------------------------------------------------------------------------------------


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _log_events(path: Path, offset: int) -> dict[str, int]:
    """Warnings and errors a service logged since `offset`: level:event -> count."""
    events: Counter[str] = Counter()
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return {}
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            if "Traceback" in line:
                events["traceback"] += 1
            continue
        if isinstance(entry, dict) and entry.get("level") in ("warning", "error", "critical"):
            events[f"{entry['level']}:{entry.get('event')}"] += 1
    return dict(events.most_common(8))


# -- results ----------------------------------------------------------------------------------


class Results:
    """The suite's record: a line per case on the terminal, and `results.json` (one entry
    per run, newest last, kept across runs; git-ignored)."""

    def __init__(self, path: Path, write_line: Callable[[str], None]) -> None:
        self.path = path
        self.write_line = write_line
        self.cases: list[dict[str, Any]] = []
        self.run: dict[str, Any] = {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "git": _git_head(),
            "cases": self.cases,
        }
        self.notes: dict[str, Any] = {}

    def finish(self, case: Case) -> None:
        """Record the case, print its line, and fail it if it found any problem."""
        entry = {
            "case": case.plan.name,
            "title": case.plan.title,
            "outcome": "passed" if not case.problems else "failed",
            "problems": case.problems,
            "notes": case.notes,
            **case.figures,
        }
        self.cases.append(entry)
        self.save()
        self.write_line(format_line(entry))
        assert not case.problems, f"{case.plan.title}:\n  " + "\n  ".join(case.problems)

    def save(self) -> None:
        self.run["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        self.run.update(self.notes)
        runs: list[Any] = []
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(self.path.read_text())
            runs = loaded if isinstance(loaded, list) else []
        runs = [r for r in runs if r.get("started_at") != self.run["started_at"]]
        dump_json(self.path, [*runs, self.run])


def format_line(entry: dict[str, Any]) -> str:
    fault = entry.get("fault") or {}
    counts = entry.get("counts") or {}
    window = f"fault {fault['injected_s']:.0f}-{fault['ended_s']:.0f} s" if fault else "no fault"
    recovery = entry.get("recovery_s")
    statuses = (entry.get("gateway") or {}).get("statuses", {})
    return (
        f"[fault] {entry['case']:<22} {entry['outcome'].upper():<6} {window:<16} "
        f"recovery {'-' if recovery is None else f'{recovery:.1f} s':>7}  "
        f"alarms {counts.get('alarms', '-')} wo {counts.get('work_orders', '-')} "
        f"notif {counts.get('delivered', '-')} sms {counts.get('sms_lines', '-')}  "
        f"answers {statuses}  settle {entry.get('settled_after_s', '-')} s  "
        f"case {entry.get('case_s', '-')} s"
    )


def _git_head() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except OSError:
        return None
    return out.stdout.strip() or None
