"""The scale-out phase: does a second alerting process of one sector add throughput?

Two sectors that the stack's alerting does not serve (ecology and energy) are drained, one by
one alerting process, the other by two. For each: start the process(es) and wait until the
sector's consumer group is Stable with all of them holding partitions; stop them (SIGSTOP,
shorter than the group's session timeout, so nobody is evicted); publish the same backlog of
`--scaleout-readings` readings straight to the sector's readings topic with bench/barepipe.py's
producer (the records ingest would publish: packed, placed by device, the sector's scenario
and metric under a rule that applies); resume them (SIGCONT) and time until their evaluated
counters have grown by the whole backlog. Nothing else loads the machine meanwhile, and the
join and rebalance of the second process are outside the timed window.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from figures import metric_value
from loadrun import BENCH_DIR, Bench, log, wait_until
from targets import DistributedTarget, SectorProcesses
from workload import SCALE_ONE, SCALE_TWO, Workload

# aiokafka's default session timeout is 10 s: a stopped member must be back before that.
MAX_STOPPED_S = 8.0


async def scale_out(bench: Bench, target: DistributedTarget) -> dict[str, Any]:
    for workload in (SCALE_ONE, SCALE_TWO):
        r = await bench.client.put(
            f"{target.endpoints.alerting}/api/v1/rules/{workload.rule_id}",
            json=workload.rule,
            headers={"Authorization": f"Bearer {bench.token}"},
        )
        r.raise_for_status()
    one = await drain(bench, target, SCALE_ONE, 1)
    two = await drain(bench, target, SCALE_TWO, 2)
    a, b = one["evaluated_per_s"], two["evaluated_per_s"]
    return {
        "backlog_readings": bench.args.scaleout_readings,
        "one_process": one,
        "two_processes": two,
        "speedup": round(b / a, 3) if a else None,
    }


async def drain(bench: Bench, target: DistributedTarget, workload: Workload, n: int) -> dict:
    """Start `n` alerting processes of the sector, give them a backlog, time its evaluation."""
    names = tuple(f"{workload.sector} alerting {i + 1}" for i in range(n))
    procs = SectorProcesses(target, workload.sector, tuple(("alerting", name) for name in names))
    pids: list[int] = []
    try:
        await asyncio.to_thread(procs.start)
        for name, pid in procs.pids().items():
            bench.sampler.add(name, pid)
            pids.append(pid())
        urls = [procs.url(name) for name in names]

        async def evaluated() -> float:
            texts = await asyncio.gather(*(bench.client.get(u + "/metrics") for u in urls))
            return sum(
                metric_value(r.text, "rw_readings_total", stage="alerting", outcome="evaluated")
                for r in texts
            )

        stable, waited = await wait_until(
            f"{workload.alerting_group} to be stable with {n} member(s)",
            lambda: group_stable(target.kafka_bootstrap, workload.alerting_group, n),
            timeout=120,
            interval=0.2,
        )
        before = await evaluated()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            produced = await publish_backlog(bench, target, workload)
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        stopped_for = time.monotonic() - stopped_at
        started = time.monotonic()
        mark = f"drain_{workload.sector}"
        bench.sampler.mark(f"{mark}_start")

        async def drained() -> bool:
            return await evaluated() - before >= produced["readings"]

        done, _ = await wait_until(
            f"{workload.sector} to drain",
            drained,
            timeout=bench.args.catchup_timeout,
            interval=0.05,
        )
        seconds = time.monotonic() - started
        bench.sampler.mark(f"{mark}_end")
        count = await evaluated() - before
        rate = count / seconds if seconds > 0 else 0.0
        log(
            f"scale-out: {n} alerting process(es) evaluated {count:,.0f} readings in "
            f"{seconds:.2f} s ({rate:,.0f}/s){'' if done else ' (did NOT finish)'}"
        )
        return {
            "processes": n,
            "group_stable": stable,
            "seconds_to_stable": round(waited, 2),
            "stopped_seconds": round(stopped_for, 2),
            "published": produced,
            "drained": done,
            "evaluated": count,
            "seconds": round(seconds, 3),
            "evaluated_per_s": round(rate, 1),
            "cpu": bench.sampler.window(mark, f"{mark}_start", f"{mark}_end").as_dict(),
        }
    finally:
        procs.stop()


async def publish_backlog(bench: Bench, target: DistributedTarget, w: Workload) -> dict[str, Any]:
    """`--scaleout-readings` readings as ingest would publish them, straight to the topic."""
    args = bench.args
    argv = [
        str(BENCH_DIR / "barepipe.py"),
        "producer",
        "--bootstrap",
        target.kafka_bootstrap,
        "--topic",
        w.readings_topic,
        "--count",
        str(args.scaleout_readings),
        "--devices",
        str(args.devices),
        "--batch-size",
        str(args.batch_size),
        "--readings-per-device",
        str(args.readings_per_device),
        "--shape",
        "packed",
        "--metric",
        w.metric,
        "--sector",
        w.sector,
        "--scenario",
        w.scenario,
        "--device-prefix",
        w.device_prefix,
        "--unique-ids",
    ]
    with (bench.run_dir / "scaleout-producer.stderr.log").open("ab") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *argv, stdout=asyncio.subprocess.PIPE, stderr=stderr
        )
        out, _ = await asyncio.wait_for(proc.communicate(), MAX_STOPPED_S * 4)
    if proc.returncode != 0:
        raise RuntimeError("the scale-out backlog producer failed: see scaleout-producer log")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    seconds = result["last_ack_at"] - result["first_send_at"]
    log(f"scale-out: {result['readings']:,} readings into {w.readings_topic} in {seconds:.1f} s")
    return {"readings": result["readings"], "records": result["records"], "seconds": seconds}


async def group_stable(bootstrap: str, group: str, members: int) -> bool:
    """Whether `group` is Stable with `members` members."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="rw-bench-scaleout")
    await admin.start()
    try:
        responses = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    for response in responses:
        for described in response.groups:
            state, found = described[2], described[5]
            if state == "Stable" and len(found) == members:
                return True
    return False
