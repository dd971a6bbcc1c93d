"""Fault injection against the distributed mode: one fault per case, exact counts after it.

Every case sends its own devices a steady load (two gateways, 600 readings/s) with a known
number of red breaches spread before, during and after its fault, waits until the platform
settles and checks, straight from PostgreSQL and the SMS file, that every breach became exactly
one alarm, one work order, six delivered first notices (its escalation's step 0) and three SMS,
and that nothing was restarted but what the case restarted itself (see case.py); the escalation
case also checks the step its escalations waited for across the kill (escalation.py). The cases
run in this order, least disruptive first, and each starts by checking that the stack is
healthy, so the first case that breaks the stack is the one that fails on its counts and the
next ones say the stack is broken.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from .case import Case, Plan, Results, run_case
from .escalation import SHORT_RED, WAIT_S, step_one_settled, verify_step_one
from .gateway import burst
from .poison import dead_letters, produce_poison
from .rig import ALERTING_DLQ, DB_ERRORS, READINGS_TOPIC, Database, Rig

pytestmark = [pytest.mark.fault, pytest.mark.e2e, pytest.mark.kafka, pytest.mark.timeout(900)]

RESTART_AFTER_S = 2.0  # a killed service is started again as Kubernetes would, soon after


async def test_baseline_without_a_fault(rig: Rig, results: Results) -> None:
    case = await run_case(rig, Plan("baseline", "No fault", load_s=20, breaches=20), None)
    results.finish(case)


async def test_poison_records_are_dead_lettered(rig: Rig, results: Results) -> None:
    marker = f"fault-poison-{uuid.uuid4().hex}"
    produced = 0

    async def fault(case: Case) -> None:
        nonlocal produced
        await case.at(10)
        case.inject("poison records produced to " + READINGS_TOPIC)
        produced = await produce_poison(rig.stack.kafka_bootstrap, READINGS_TOPIC, marker)
        case.end("poison records produced")
        case.note("poison_records", produced)

        async def all_dead_lettered() -> str | None:
            found = await dead_letters(rig.stack.kafka_bootstrap, ALERTING_DLQ, marker)
            return None if len(found) >= produced else f"dead letters {len(found)} of {produced}"

        case.checks.append(all_dead_lettered)

    case = await run_case(rig, Plan("poison", "Poison records on the readings topic", 25), fault)
    found = await dead_letters(rig.stack.kafka_bootstrap, ALERTING_DLQ, marker)
    case.note("dead_letters", len(found))
    case.expect(
        len(found) == produced,
        f"{len(found)} of the {produced} poison records are in {ALERTING_DLQ}",
    )
    case.expect(
        all(d.headers.get("rw_dlq_reason") for d in found),
        "a dead letter without its rw_dlq_reason header",
    )
    results.finish(case)


async def test_overload_burst_is_answered_429_and_retried(rig: Rig, results: Results) -> None:
    requests, red = 300, 10

    async def fault(case: Case) -> None:
        await case.at(10)
        case.inject(f"{requests} concurrent batches of 100 readings")
        case.note("extra_breaches", red)
        await burst(
            case.client,
            case.ledger,
            case.extra_devices,
            requests=requests,
            red=case.extra_devices[:red],
            seed=99,
        )
        case.end("every batch of the burst taken")

    plan = Plan("overload-burst", "Overload burst", load_s=25, extra_devices=100)
    case = await run_case(rig, plan, fault)
    case.expect(
        case.ledger.statuses["429"] > 0, "no request of the burst was answered 429: no overload"
    )
    results.finish(case)


async def _kill_and_restart(rig: Rig, results: Results, service: str) -> None:
    async def fault(case: Case) -> None:
        await case.at(10)
        case.inject(f"kill -9 {service}")
        await rig.kill(service)
        await case.at(10 + RESTART_AFTER_S)
        case.end(f"{service} started again")
        await rig.start_service(service)
        case.note("ready_s", case.elapsed())

    plan = Plan(f"kill-{service}", f"kill -9 {service}", load_s=30, restarts=(service,))
    results.finish(await run_case(rig, plan, fault))


async def test_kill_reporting(rig: Rig, results: Results) -> None:
    await _kill_and_restart(rig, results, "reporting")


async def test_kill_workorder(rig: Rig, results: Results) -> None:
    await _kill_and_restart(rig, results, "workorder")


async def test_kill_notify(rig: Rig, results: Results) -> None:
    await _kill_and_restart(rig, results, "notify")


async def test_kill_notify_during_escalation_waits(rig: Rig, results: Results) -> None:
    """Red alarms whose second escalation step comes 20 s after the first (a policy version
    for this case); notify is killed at 10 s into the load, while the escalations of the
    alarms raised before wait for that step, and started again at 25 s, so the steps of the
    earlier ones fall due while it is dead and those of the later ones after its restart.
    Each second step must fire once: not lost with the process, not fired (or sent) twice
    after the restart."""
    editor = await rig.editor_headers()
    before = await rig.escalation_policies(editor)
    version = await rig.put_escalation_policies(editor, {"red": SHORT_RED})
    db = Database(rig.dsn)
    killed_at = ready_at = 0.0
    try:

        async def fault(case: Case) -> None:
            nonlocal killed_at, ready_at
            case.note("policy", f"version {version}: step 1 after {WAIT_S:.0f} s")
            case.checks.append(step_one_settled(case, db))
            await case.at(10)
            case.inject("kill -9 notify")
            killed_at = time.time()
            await rig.kill("notify")
            await case.at(25)
            case.end("notify started again")
            await rig.start_service("notify")
            ready_at = time.time()
            case.note("ready_s", case.elapsed())

        plan = Plan(
            "kill-notify-escalation",
            "kill -9 notify during escalation waits",
            load_s=30,
            restarts=("notify",),
        )
        case = await run_case(rig, plan, fault)
        if ready_at:
            try:
                await verify_step_one(
                    case, db, version=version, killed_at=killed_at, ready_at=ready_at
                )
            except DB_ERRORS as exc:
                case.problems.append(f"could not read the escalations: {exc!r}")
    finally:
        await db.close()
        # Later cases' alarms escalate on the policy in force before this one.
        await rig.put_escalation_policies(editor, {"red": before["policies"]["red"]})
    results.finish(case)


async def test_kill_alerting(rig: Rig, results: Results) -> None:
    await _kill_and_restart(rig, results, "alerting")


async def test_kill_ingest(rig: Rig, results: Results) -> None:
    await _kill_and_restart(rig, results, "ingest")


async def test_alerting_frozen_for_60s(rig: Rig, results: Results) -> None:
    async def fault(case: Case) -> None:
        await case.at(10)
        case.inject("SIGSTOP alerting")
        rig.freeze("alerting")
        await case.at(70)
        rig.thaw("alerting")
        case.end("SIGCONT alerting")

    plan = Plan("sigstop-alerting-60s", "SIGSTOP alerting for 60 s", load_s=80)
    results.finish(await run_case(rig, plan, fault))


async def _kafka_down(rig: Rig, results: Results, seconds: float) -> None:
    async def fault(case: Case) -> None:
        await case.at(10)
        case.inject("Kafka broker killed (kill -9)")
        await rig.act(rig.stack.stop_kafka, kill=True)
        await case.at(10 + seconds)
        case.end("Kafka broker started on its data dir")
        await rig.act(rig.stack.start_kafka)
        case.note("broker_ready_s", case.elapsed())

    name = f"kafka-down-{seconds:.0f}s"
    plan = Plan(name, f"Kafka broker down {seconds:.0f} s", load_s=seconds + 30)
    case = await run_case(rig, plan, fault)
    # Longer than ingest's publish deadline (RW_PUBLISH_TIMEOUT_S, 5 s): refused, then taken.
    case.expect(
        case.ledger.statuses["503"] > 0, "no request was answered 503 while the broker was down"
    )
    results.finish(case)


async def test_kafka_down_10s(rig: Rig, results: Results) -> None:
    await _kafka_down(rig, results, 10.0)


async def test_kafka_down_40s(rig: Rig, results: Results) -> None:
    await _kafka_down(rig, results, 40.0)


async def test_postgres_fast_stop_and_start(rig: Rig, results: Results) -> None:
    async def fault(case: Case) -> None:
        await case.at(10)
        case.inject("PostgreSQL fast stop")
        await rig.act(rig.stack.stop_postgres, "fast")
        await case.at(20)
        case.end("PostgreSQL started on its data dir")
        await rig.act(rig.stack.start_postgres)
        case.note("server_ready_s", case.elapsed())

    plan = Plan("postgres-fast-stop", "PostgreSQL fast stop, 10 s, start", load_s=40)
    case = await run_case(rig, plan, fault)
    case.expect(
        case.ledger.statuses["503"] > 0, "no request was answered 503 while PostgreSQL was down"
    )
    results.finish(case)


async def test_postgres_crash_then_57p03_for_30s_under_a_backlog(
    rig: Rig, results: Results
) -> None:
    """A 300-breach backlog: 150 alarms raised while workorder and notify are frozen (their
    events wait in Kafka), 150 red readings accepted while alerting is frozen (they wait in
    the readings topic). Then PostgreSQL crashes (immediate stop, recovery on start) and for
    30 s every connection the services make is answered SQLSTATE 57P03 by the proxy, while
    the three frozen services resume into it."""
    refusal_s = 30.0

    async def fault(case: Case) -> None:
        backlog = case.extra_devices
        first, second = backlog[:150], backlog[150:]
        case.note("extra_breaches", len(backlog))
        db = Database(rig.dsn)
        try:
            await case.at(2)
            rig.freeze("workorder", "notify")
            for chunk in (first[:100], first[100:]):
                await case.send(case.batch(chunk, chunk))
            await _alarms_published(db, first)
            rig.freeze("alerting")
            for chunk in (second[:100], second[100:]):
                await case.send(case.batch(chunk, chunk))
        finally:
            await db.close()
        case.inject("PostgreSQL crash (immediate stop), proxy answers 57P03")
        case.note("connections_dropped", rig.proxy.refuse())
        await rig.act(rig.stack.stop_postgres, "immediate")
        rig.thaw("alerting", "workorder", "notify")
        await asyncio.sleep(3.0)
        await rig.act(rig.stack.start_postgres)
        case.note("server_up_s", case.elapsed())
        assert case.injected_at is not None
        await case.at(case.injected_at + refusal_s)
        rig.proxy.pass_through()
        case.end(f"proxy passes through again after {refusal_s:.0f} s of 57P03")
        case.note("startups_refused", rig.proxy.stats.refused)

    plan = Plan(
        "postgres-crash-57p03",
        "PostgreSQL crash + 30 s of 57P03, 300-breach backlog",
        load_s=70,
        breaches=20,
        extra_devices=300,
        settle_timeout_s=240.0,
    )
    case = await run_case(rig, plan, fault)
    case.expect(
        case.notes.get("startups_refused", 0) > 0,
        "the proxy refused no connection: the services never met the 57P03",
    )
    results.finish(case)


async def _alarms_published(db: Database, devices: list[str], timeout: float = 60.0) -> None:
    """Wait until alerting raised an alarm for each of `devices` and published them all."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        row = await db.fetchrow(
            """
            SELECT (SELECT count(*) FROM alerting.alarm WHERE device_id = ANY($1::text[])),
                   (SELECT count(*) FROM alerting.outbox WHERE published_at IS NULL)
            """,
            devices,
        )
        assert row is not None
        if row[0] >= len(devices) and row[1] == 0:
            return
        if loop.time() > deadline:
            raise AssertionError(
                f"backlog set-up: {row[0]} of {len(devices)} alarms raised, "
                f"{row[1]} events unpublished after {timeout:.0f} s"
            )
        await asyncio.sleep(0.2)
