"""The phases of one benchmark run, in order, against one target (see bench/README.md):

  bare       the bare aiokafka pipe on the stack's broker, packed records then per-device ones
  load       closed loop: as many readings as ingest accepts, for `--duration`
  mqtt       the same over MQTT: devices of their own publishing through ingest's Mosquitto,
             for `--mqtt-duration` (bench/mqttgen.py)
  half       paced at half the readings/s alerting evaluated in `load` (or `--rate`)
  soak       the same pace for `--soak` seconds, RSS recorded every `--rss-interval`
  isolation  construction paced at `--isolation-rate`, alone, then while a CPU-limited
             emergency sector is saturated by a closed loop of its own
  scaleout   two equal backlogs in two more sectors, drained by one alerting process and by
             two (bench/scaleout.py)

Every phase breaches its own devices, so its alarms, and the latencies read from them, are
its own. CPU and RSS of every process come from the sampler's marks around each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from figures import profile_summary
from loadrun import (
    BENCH_DIR,
    Bench,
    LoadGen,
    LoadWindow,
    Scraper,
    alarm_latency,
    catch_up,
    evaluated_all,
    loadgen_config,
    log,
    throughput,
    timed_load,
)
from procstat import ProcSampler
from scaleout import scale_out
from targets import CpuLimit, DistributedTarget, EmergencySector, Endpoints, Target
from workload import (
    CONSTRUCTION,
    EMERGENCY,
    MQTT,
    BreachPools,
    Workload,
    disable_other_rules,
    login,
    mqtt_credentials,
    register,
)


class Run:
    """One run's state across its phases."""

    def __init__(self, bench: Bench, target: Target, platform: list[str]) -> None:
        self.bench = bench
        self.args = bench.args
        self.target = target
        self.platform = platform  # sampler groups whose RSS is reported
        self.extra: tuple[str, ...] = ()  # more of them, while they run (emergency sector)
        self.scraper = Scraper(bench.client, target.endpoints)
        self.device_ids = CONSTRUCTION.device_ids(self.args.devices)
        self.pools = BreachPools(self.device_ids)

    # -- the pieces of a phase ------------------------------------------------------------

    def cpu(self, name: str, start: str, end: str) -> dict[str, Any]:
        return self.bench.sampler.window(name, start, end).as_dict()

    def rss(self, start: str, end: str) -> dict[str, Any]:
        return self.bench.sampler.rss(start, end, [*self.platform, *self.extra])

    async def register(self, workload: Workload, at: Endpoints, device_ids: list[str]) -> float:
        """More devices (and the workload's profile and rule) on the sector's services."""
        return await register(
            workload,
            ingest_url=at.ingest,
            alerting_url=at.alerting,
            token=self.bench.token,
            device_ids=device_ids,
            towns=town_ids(self.args),
        )

    async def paced(
        self,
        name: str,
        *,
        rate: float,
        duration: float,
        before_go: Callable[[], Awaitable[None]] | None = None,
        at_done: Callable[[], None] | None = None,
        alongside: tuple[Scraper, ...] = (),
        rss_every: float | None = None,
    ) -> tuple[dict[str, Any], LoadWindow]:
        """Construction paced at `rate` readings/s for `duration`, then caught up and settled."""
        args, bench = self.args, self.bench
        pool = self.pools.take(BreachPools.size(args.breaches_per_second, duration))
        cfg = loadgen_config(
            bench,
            self.scraper.endpoints,
            self.device_ids,
            duration=duration,
            rate=rate,
            breaches_per_second=args.breaches_per_second,
            breach_pool=pool,
        )
        series: list[dict[str, Any]] = []
        every = None
        if rss_every:

            def record(t: float) -> None:
                now = bench.sampler.rss_now()
                rss = {k: now[k] for k in [*self.platform, *self.extra] if k in now}
                series.append({"t": round(t, 1), "rss_mb": rss})

            every = (rss_every, record)
        log(f"{name}: construction paced at {rate:,.0f} readings/s for {duration:.0f} s")
        async with LoadGen(bench, name, "load generator", cfg) as lg:
            window = await timed_load(
                bench,
                name,
                self.scraper,
                lg,
                before_go=before_go,
                at_done=at_done,
                alongside=alongside,
                every=every,
            )
        await catch_up(bench, self.scraper, window)
        latency = await alarm_latency(bench, window, CONSTRUCTION.rule_id, pool)
        bench.sampler.mark(f"{name}_settled")
        result = {
            "rate": rate,
            "duration": duration,
            **throughput(window, args.batch_size * args.concurrency),
            **latency,
            "cpu": {
                name: self.cpu(name, f"{name}_start", f"{name}_end"),
                f"{name} catch-up": self.cpu(name, f"{name}_end", f"{name}_caught_up"),
            },
            "rss_mb": self.rss(f"{name}_start", f"{name}_settled"),
            "timeline": window.timeline,
            **({"rss_series": series} if rss_every else {}),
        }
        return result, window

    # -- the phases -----------------------------------------------------------------------

    async def bare_pipes(self) -> dict[str, Any]:
        assert isinstance(self.target, DistributedTarget)
        out = {}
        for shape in ("packed", "per-device"):
            log(f"bare pipe, {shape}: {self.args.bare_records:,} readings")
            out[shape.replace("-", "_")] = await bare_pipe(
                self.args,
                self.target.kafka_bootstrap,
                self.bench.sampler,
                self.bench.run_dir,
                shape,
            )
        return out

    async def closed_loop(self) -> dict[str, Any]:
        args, bench = self.args, self.bench
        pool = self.pools.take(BreachPools.size(args.breaches_per_second, args.duration))
        cfg = loadgen_config(
            bench,
            self.scraper.endpoints,
            self.device_ids,
            duration=args.duration,
            rate=None,
            breaches_per_second=args.breaches_per_second,
            breach_pool=pool,
        )
        profilers: dict[str, tuple[asyncio.subprocess.Process, Path]] = {}

        async def start_profiling() -> None:
            profilers.update(await start_profilers(args, self.target, bench.run_dir, bench.sampler))

        log(
            f"load: {args.duration:.0f} s closed loop, batches of {args.batch_size}, "
            f"{args.concurrency} in flight"
        )
        async with LoadGen(bench, "load", "load generator", cfg) as lg:
            window = await timed_load(bench, "load", self.scraper, lg, before_go=start_profiling)
        log(
            f"load done: {window.fresh:,} readings accepted in {window.load_seconds:.1f} s "
            f"({window.fresh / window.load_seconds:,.0f}/s)"
        )
        await catch_up(bench, self.scraper, window)
        figures = throughput(window, args.batch_size * args.concurrency)
        alt = figures["alerting"]
        log(
            f"alerting {'caught up' if alt['caught_up'] else 'did NOT catch up'}: "
            f"{alt['evaluated']:,.0f} evaluated in {alt['seconds_from_load_start']:.1f} s from "
            f"load start ({alt['evaluated_per_s']:,.0f}/s)"
        )
        profiles = await collect_profiles(profilers)
        latency = await alarm_latency(bench, window, CONSTRUCTION.rule_id, pool)
        bench.sampler.mark("load_settled")
        return {
            "duration": args.duration,
            **figures,
            **latency,
            "cpu": {
                "load": self.cpu("load", "load_start", "load_end"),
                "load catch-up": self.cpu("catchup", "load_end", "load_caught_up"),
            },
            "rss_mb": self.rss("load_start", "load_settled"),
            "timeline": window.timeline,
            "profiles": profiles,
        }

    async def mqtt(self) -> dict[str, Any]:
        """Readings over MQTT for `--mqtt-duration`: one connection per device, each with its
        own credentials, as fast as ingest takes them (bench/mqttgen.py), measured as `load`
        measures HTTP: what ingest accepted over the generator's window, what alerting
        evaluated until it caught up. No device breaches: the phase has no alarms."""
        args, bench = self.args, self.bench
        endpoints, port = self.scraper.endpoints, self.target.mqtt_port
        assert port is not None
        ids = MQTT.device_ids(args.mqtt_devices)
        log(f"mqtt: registering {len(ids)} devices with MQTT credentials")
        await self.register(MQTT, endpoints, ids)
        per_message = args.mqtt_readings_per_message
        cfg = {
            "host": "127.0.0.1",
            "port": port,
            "credentials": await mqtt_credentials(
                ingest_url=endpoints.ingest, token=bench.token, device_ids=ids
            ),
            "metric": MQTT.metric,
            "normal_range": list(MQTT.normal_range),
            "readings_per_message": per_message,
            "inflight": args.mqtt_inflight,
            "max_backlog": args.mqtt_backlog,
            "metrics_url": endpoints.ingest + "/metrics",
            "poll_interval": 0.25,
            "duration": args.mqtt_duration,
            "connect_timeout": 60.0,
            "drain_timeout": args.catchup_timeout,
        }
        log(
            f"mqtt: {args.mqtt_duration:.0f} s closed loop, {len(ids)} connections to 127.0.0.1:"
            f"{port}, {per_message} reading(s) a message, {args.mqtt_inflight} unacknowledged "
            f"publishes per connection, at most {args.mqtt_backlog:,} messages ingest has not taken"
        )
        async with LoadGen(bench, "mqtt", "mqtt load generator", cfg, "mqttgen.py") as lg:
            window = await timed_load(bench, "mqtt", self.scraper, lg)
        messages = window.lg["messages"]
        log(
            f"mqtt done: {window.fresh:,} readings accepted in {window.load_seconds:.1f} s "
            f"({window.fresh / window.load_seconds:,.0f}/s), {messages['messages']:,} messages"
        )
        await catch_up(bench, self.scraper, window)
        bench.sampler.mark("mqtt_settled")
        # Ingest takes at most 200 messages a transaction (RW_MQTT__MAX_MESSAGES_PER_BATCH).
        figures = throughput(window, 200 * per_message)
        figures["ingest"] |= {
            "messages": messages,
            "drained": window.lg["drained"],
            "backlog_at_stop": window.lg["backlog_at_stop"],
            "drain_seconds": window.lg["drain_seconds"],
            "records_per_message": round(
                figures["ingest"]["metric_records_published"] / messages["messages"], 3
            )
            if messages["messages"]
            else None,
        }
        return {
            "duration": args.mqtt_duration,
            "broker": f"127.0.0.1:{port}",
            "devices": len(ids),
            "readings_per_message": per_message,
            "inflight_per_connection": args.mqtt_inflight,
            "max_backlog": args.mqtt_backlog,
            **figures,
            "cpu": {
                "mqtt": self.cpu("mqtt", "mqtt_start", "mqtt_end"),
                "mqtt catch-up": self.cpu("mqtt catch-up", "mqtt_end", "mqtt_caught_up"),
            },
            "rss_mb": self.rss("mqtt_start", "mqtt_settled"),
            "timeline": window.timeline,
        }

    async def isolation(self) -> dict[str, Any]:
        """Construction paced alone, then beside a saturated emergency sector."""
        args, bench = self.args, self.bench
        assert isinstance(self.target, DistributedTarget)
        limit = CpuLimit(f"riskwatch-bench-{bench.run_dir.name}", args.emergency_cpus)
        log(f"isolation: the emergency sector's ingest and alerting get a {limit.describe}")
        sector = EmergencySector(self.target, limit, args.emergency_budget)
        if args.emergency_budget:
            log(f"isolation: emergency's ingest budget is {args.emergency_budget:,} readings/s")
        try:
            started_in = await asyncio.to_thread(sector.start)
            for name, pid in sector.pids().items():
                bench.sampler.add(name, pid)
            self.extra = EmergencySector.NAMES
            e = sector.endpoints
            emergency_ids = EMERGENCY.device_ids(args.emergency_devices)
            await self.register(EMERGENCY, e, emergency_ids)
            log(f"emergency sector up in {started_in:.1f} s, {len(emergency_ids)} devices")
            escraper = Scraper(bench.client, e)

            alone, _ = await self.paced(
                "isolation_alone", rate=args.isolation_rate, duration=args.isolation_duration
            )
            e_seconds = args.isolation_lead + args.isolation_duration + 2.0
            e_pool = BreachPools(emergency_ids).take(
                BreachPools.size(args.emergency_breaches_per_second, e_seconds)
            )
            ecfg = loadgen_config(
                bench,
                e,
                emergency_ids,
                duration=e_seconds,
                rate=None,
                breaches_per_second=args.emergency_breaches_per_second,
                breach_pool=e_pool,
            )
            throttling: dict[str, dict[str, float]] = {}
            async with LoadGen(bench, "emergency", "emergency load generator", ecfg) as elg:
                await evaluated_all(bench, escraper, "emergency: the warm-up to be evaluated")

                async def saturate_emergency() -> None:
                    await elg.go()
                    log(f"emergency: closed loop for {e_seconds:.0f} s")
                    await asyncio.sleep(args.isolation_lead)
                    throttling["before"] = limit.stats()

                def construction_done() -> None:
                    throttling["after"] = limit.stats()

                beside, window = await self.paced(
                    "isolation_with",
                    rate=args.isolation_rate,
                    duration=args.isolation_duration,
                    before_go=saturate_emergency,
                    at_done=construction_done,
                    alongside=(escraper,),
                )
                e_lg = await elg.result()
        finally:
            sector.stop()
            self.extra = ()
        return {
            "construction_rate": args.isolation_rate,
            "duration": args.isolation_duration,
            "emergency_budget": args.emergency_budget,
            "cpu_limit": {
                "kind": limit.kind,
                "cpus": args.emergency_cpus,
                "describe": limit.describe,
                **throttled(throttling),
            },
            "alone": alone,
            "with_emergency": beside,
            "emergency": emergency_figures(window, e_lg),
            **isolation_figures(alone, beside),
        }


# -- the bare pipe ------------------------------------------------------------------------------


async def bare_pipe(
    args: argparse.Namespace,
    bootstrap: str,
    sampler: ProcSampler,
    run_dir: Path,
    shape: str,
) -> dict[str, Any]:
    """`--bare-records` readings in `shape` records through a fresh topic: bench/barepipe.py."""
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
        "--readings-per-device",
        str(args.readings_per_device),
        "--batch-size",
        str(args.batch_size),
        "--shape",
        shape,
        "--metric",
        CONSTRUCTION.metric,
    ]
    script = str(BENCH_DIR / "barepipe.py")
    mark = f"bare_{shape.replace('-', '_')}"
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
        sampler.mark(f"{mark}_start")
        out_p, _ = await asyncio.wait_for(producer.communicate(), 600)
        out_c, _ = await asyncio.wait_for(consumer.communicate(), 600)
        sampler.mark(f"{mark}_end")
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
    readings_per_record = prod["readings"] / prod["records"]
    return {
        "topic": topic,
        "partitions": 6,
        "records": cons["records"],
        "shape": shape,
        "readings": prod["readings"],
        "readings_per_record": round(readings_per_record, 1),
        "value_bytes": prod["value_bytes"],
        "header_bytes": prod["header_bytes"],
        "end_to_end_seconds": round(seconds, 3),
        "records_per_s": round(records_per_s, 1),
        "readings_per_s": round(records_per_s * readings_per_record, 1),
        "producer_records_per_s": round(prod["records"] / produce_seconds, 1),
        "producer_cpu_seconds": round(prod["cpu_seconds_self"], 2),
        "consumer_cpu_seconds": round(cons["cpu_seconds_self"], 2),
        "cpu": {f"bare {shape}": sampler.window(mark, f"{mark}_start", f"{mark}_end").as_dict()},
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
    args: argparse.Namespace, target: Target, run_dir: Path, sampler: ProcSampler
) -> dict[str, tuple[asyncio.subprocess.Process, Path]]:
    profilers: dict[str, tuple[asyncio.subprocess.Process, Path]] = {}
    for name in [s.strip() for s in args.profile.split(",") if s.strip()]:
        out = run_dir / f"profile-{name}.txt"
        proc = await asyncio.create_subprocess_exec(
            *py_spy_argv(),
            "record",
            "--pid",
            str(target.pid(name)),
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


async def collect_profiles(
    profilers: dict[str, tuple[asyncio.subprocess.Process, Path]],
) -> dict[str, Any]:
    profiles: dict[str, Any] = {}
    for name, (proc, out) in profilers.items():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 60)
        if out.exists():
            profiles[name] = {"raw": str(out), **profile_summary(out)}
        else:
            profiles[name] = {"error": f"py-spy wrote no profile (see {out.stem}.log)"}
    return profiles


# -- isolation figures ------------------------------------------------------------------------


def throttled(stats: dict[str, dict[str, float]]) -> dict[str, Any]:
    """How often the CPU quota held the emergency processes back during construction's
    timed window (cgroup cpu.stat: periods in which they ran, and were throttled)."""
    before, after = stats.get("before") or {}, stats.get("after") or {}
    if not before or not after:
        return {}
    periods = after["periods"] - before["periods"]
    return {
        "periods": periods,
        "throttled_periods": after["throttled_periods"] - before["throttled_periods"],
        "throttled_share": round(
            (after["throttled_periods"] - before["throttled_periods"]) / periods, 3
        )
        if periods
        else None,
        "throttled_seconds": round(after["throttled_seconds"] - before["throttled_seconds"], 2),
    }


def emergency_figures(window: LoadWindow, lg: dict[str, Any]) -> dict[str, Any]:
    """The emergency sector's rates over construction's timed window (from its /metrics)."""
    e0, e1 = window.alongside[EMERGENCY.sector]
    seconds = e1.at - e0.at
    fresh = lg["accepted"] - lg["duplicates"]
    return {
        "window_seconds": round(seconds, 2),
        "accepted_per_s": round((e1.ingest_accepted - e0.ingest_accepted) / seconds, 1),
        "evaluated_per_s": round((e1.alerting_evaluated - e0.alerting_evaluated) / seconds, 1),
        "backlog_at_window_start": e0.backlog,
        "backlog_at_window_end": e1.backlog,
        "load_generator": {
            "seconds": round(lg["stopped_at"] - lg["started_at"], 2),
            "accepted": fresh,
            "accepted_per_s": round(fresh / (lg["stopped_at"] - lg["started_at"]), 1),
            "statuses": lg["statuses"],
            "request_seconds": lg["request_seconds"],
            "breaches_sent": len(lg["breach_devices"]),
        },
    }


def p99_delivered(phase: dict[str, Any]) -> float | None:
    value: float | None = phase["latency_seconds"]["reading_to_notification_delivered"]["p99"]
    return value


def isolation_figures(alone: dict[str, Any], beside: dict[str, Any]) -> dict[str, Any]:
    a, b = p99_delivered(alone), p99_delivered(beside)
    alt = beside["alerting"]
    return {
        "p99_delivered_alone_s": a,
        "p99_delivered_with_emergency_s": b,
        "p99_ratio": round(b / a, 3) if a and b is not None else None,
        # Construction kept up: its backlog did not grow while emergency was saturated, and
        # alerting had evaluated everything within --catchup-timeout of the load's end.
        "construction_kept_up": bool(alt["caught_up"] and not alt["backlog_grew"]),
    }


# -- the run -----------------------------------------------------------------------------------


def town_ids(args: argparse.Namespace) -> list[str]:
    return [t.strip() for t in args.towns.split(",") if t.strip()]


async def run(args: argparse.Namespace, target: Target, password: str, run_dir: Path) -> dict:
    endpoints = target.endpoints
    token = await login(endpoints.ingest, password, alerting_url=endpoints.alerting)
    log(f"registering {args.devices} devices and rule {CONSTRUCTION.rule_id}")
    setup: dict[str, Any] = {
        "register_seconds": round(
            await register(
                CONSTRUCTION,
                ingest_url=endpoints.ingest,
                alerting_url=endpoints.alerting,
                token=token,
                device_ids=CONSTRUCTION.device_ids(args.devices),
                towns=town_ids(args),
            ),
            1,
        )
    }
    if target.mode == "embedded":
        setup["disabled_rules"] = await disable_other_rules(
            CONSTRUCTION, alerting_url=endpoints.alerting, token=token
        )
    log(f"registered in {setup['register_seconds']:.1f} s")

    sampler = ProcSampler(interval=1.0)
    platform = list(target.processes())
    for name, pid in target.processes().items():
        sampler.add(name, pid)
    sampler.add("bench (this process)", os.getpid, children=False)
    sampler.start()
    conn = await asyncpg.connect(target.dsn)
    results: dict[str, Any] = {"setup": setup}
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            r = Run(Bench(args, run_dir, sampler, client, conn, token), target, platform)
            sampler.mark("run_start")
            phases = args.phases
            if "bare" in phases and args.bare_when == "before":
                results["bare_pipe"] = await r.bare_pipes()
            if "load" in phases:
                results["load"] = await r.closed_loop()
            if "mqtt" in phases:
                results["mqtt"] = await r.mqtt()
            rate, basis = args.rate, "--rate"
            if rate is None and "load" in results:
                rate = 0.5 * results["load"]["alerting"]["evaluated_per_s"]
                basis = "half of the readings/s evaluated in the closed loop"
            if "half" in phases:
                assert rate is not None
                results["half"], _ = await r.paced("half", rate=rate, duration=args.half_duration)
                results["half"]["rate_basis"] = basis
            if args.soak:
                assert rate is not None
                results["soak"], _ = await r.paced(
                    "soak", rate=rate, duration=args.soak, rss_every=args.rss_interval
                )
                results["soak"]["rate_basis"] = basis
            if "isolation" in phases:
                results["isolation"] = await r.isolation()
            if "scaleout" in phases:
                assert isinstance(target, DistributedTarget)
                results["scaleout"] = await scale_out(r.bench, target)
            if "bare" in phases and args.bare_when == "after":
                results["bare_pipe"] = await r.bare_pipes()
            sampler.mark("run_end")
            results["rss_mb"] = sampler.rss("run_start", "run_end", platform)
        results["stored_readings_total"] = await conn.fetchval(
            "SELECT count(*) FROM ingest.reading"
        )
        results["postgres_server_version"] = await conn.fetchval("SHOW server_version")
    finally:
        sampler.stop()
        await conn.close()
    return results
