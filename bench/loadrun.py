"""The pieces every load phase is made of: scraping counters, driving a load generator process,
waiting for alerting to catch up, and reading the alarms' latency from PostgreSQL.

A phase goes: start a load generator (it posts its untimed warm-up and says READY), wait until
alerting has evaluated everything accepted so far, mark the start, GO, scrape both services'
/metrics every `--sample-interval` until the generator says DONE, mark the end, wait for
alerting to evaluate everything the phase got accepted, then wait for the notifications of
the phase's alarms and read their timestamps.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from figures import metric_value, slope, summary
from procstat import ProcSampler
from targets import Endpoints

BENCH_DIR = Path(__file__).resolve().parent
READINGS_ROUTE = "/api/v1/readings"
# (step, round) of an alarm's first notices: what the latency of an alarm is measured to.
FIRST_NOTICE = (0, 0)


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Bench:
    """What every phase needs: the options, where to write, whom to ask."""

    args: Any
    run_dir: Path
    sampler: ProcSampler
    client: httpx.AsyncClient  # for /metrics
    conn: asyncpg.Connection  # the platform's database
    token: str


@dataclass
class Counters:
    at: float
    ingest_accepted: float
    ingest_records: float
    ingest_post_seconds: float  # summed duration of POST /api/v1/readings requests
    ingest_posts: float
    alerting_evaluated: float
    alerting_handle_seconds: float  # summed time in the readings consumer's batch handler
    alerting_records: float  # records in those batches

    @property
    def backlog(self) -> float:
        return self.ingest_accepted - self.alerting_evaluated


@dataclass
class Scraper:
    """Counters of one sector's ingest and alerting, and their timeline since `restart`."""

    client: httpx.AsyncClient
    endpoints: Endpoints
    timeline: list[dict[str, float]] = field(default_factory=list)
    t0: float = 0.0
    base: Counters | None = None

    def restart(self, base: Counters) -> None:
        self.timeline = []
        self.t0 = base.at
        self.base = base

    async def counters(self) -> Counters:
        e = self.endpoints
        if e.ingest == e.alerting:  # the embedded platform: one process, one /metrics
            ingest = alerting = (await self.client.get(e.ingest + "/metrics")).text
        else:
            responses = await asyncio.gather(
                self.client.get(e.ingest + "/metrics"), self.client.get(e.alerting + "/metrics")
            )
            ingest, alerting = (r.text for r in responses)
        w = e.workload
        c = Counters(
            at=time.monotonic(),
            ingest_accepted=metric_value(
                ingest, "rw_readings_total", stage="ingest", outcome="accepted"
            ),
            ingest_records=metric_value(
                ingest, "rw_events_published_total", topic=w.readings_topic
            ),
            ingest_post_seconds=metric_value(
                ingest, "rw_http_request_seconds_sum", method="POST", route=READINGS_ROUTE
            ),
            ingest_posts=metric_value(
                ingest, "rw_http_request_seconds_count", method="POST", route=READINGS_ROUTE
            ),
            alerting_evaluated=metric_value(
                alerting, "rw_readings_total", stage="alerting", outcome="evaluated"
            ),
            alerting_handle_seconds=metric_value(
                alerting, "rw_batch_handle_seconds_sum", group=w.alerting_group
            ),
            alerting_records=metric_value(alerting, "rw_batch_records_sum", group=w.alerting_group),
        )
        if self.base is not None:
            self.timeline.append(
                {
                    "t": round(c.at - self.t0, 2),
                    "accepted": c.ingest_accepted - self.base.ingest_accepted,
                    "evaluated": c.alerting_evaluated - self.base.alerting_evaluated,
                }
            )
        return c


async def wait_until(
    what: str, check: Callable[[], Awaitable[bool]], *, timeout: float, interval: float
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


async def evaluated_all(bench: Bench, scraper: Scraper, what: str) -> bool:
    """Wait until alerting has evaluated everything ingest accepted so far (warm-ups too)."""

    async def idle() -> bool:
        c = await scraper.counters()
        return c.alerting_evaluated >= c.ingest_accepted

    ok, _ = await wait_until(what, idle, timeout=bench.args.catchup_timeout, interval=0.5)
    return ok


class LoadGen:
    """One bench/loadgen.py process (see its protocol), or another `script` speaking it
    (bench/mqttgen.py), measured as `label` by the sampler."""

    def __init__(
        self,
        bench: Bench,
        name: str,
        label: str,
        cfg: dict[str, Any],
        script: str = "loadgen.py",
    ) -> None:
        self.bench = bench
        self.label = label
        self.script = BENCH_DIR / script
        self.cfg_path = bench.run_dir / f"loadgen-{name}-config.json"
        self.result_path = bench.run_dir / f"loadgen-{name}-result.json"
        self.stderr_path = bench.run_dir / f"loadgen-{name}.stderr.log"
        self.cfg_path.write_text(json.dumps(cfg))
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> LoadGen:
        with self.stderr_path.open("ab") as stderr:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(self.script),
                str(self.cfg_path),
                str(self.result_path),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
        assert self.proc.stdout is not None
        try:
            ready = await asyncio.wait_for(self.proc.stdout.readline(), 300)
            if ready.strip() != b"READY":
                raise RuntimeError(
                    f"load generator failed to start ({ready!r}): {self.stderr_path}"
                )
        except BaseException:
            await self.__aexit__()
            raise
        proc = self.proc
        self.bench.sampler.add(self.label, lambda: proc.pid, children=False)
        return self

    async def go(self) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"GO\n")
        await self.proc.stdin.drain()

    async def result(self, while_running: Callable[[], Awaitable[None]] | None = None) -> dict:
        """Wait for DONE, calling `while_running` every sample interval meanwhile."""
        assert self.proc is not None
        assert self.proc.stdout is not None
        done_line = asyncio.ensure_future(self.proc.stdout.readline())
        while not done_line.done():
            await asyncio.wait({done_line}, timeout=self.bench.args.sample_interval)
            if not done_line.done() and while_running is not None:
                await while_running()
        line = done_line.result()
        if not line.startswith(b"DONE"):
            raise RuntimeError(f"load generator failed ({line!r}): {self.stderr_path}")
        await self.proc.wait()
        result: dict[str, Any] = json.loads(self.result_path.read_text())
        return result

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


def loadgen_config(
    bench: Bench,
    endpoints: Endpoints,
    device_ids: list[str],
    *,
    duration: float,
    rate: float | None,
    breaches_per_second: float,
    breach_pool: list[str],
) -> dict[str, Any]:
    args, w = bench.args, endpoints.workload
    return {
        "url": endpoints.ingest,
        "token": bench.token,
        "device_ids": device_ids,
        "metric": w.metric,
        "batch_size": args.batch_size,
        "readings_per_device": args.readings_per_device,
        "breach_rate": breaches_per_second,
        "breach_value": w.breach_value,
        "breach_pool": breach_pool,
        "normal_range": list(w.normal_range),
        "concurrency": args.concurrency,
        "duration": duration,
        "rate": rate,
        "warmup_batches": args.warmup_batches,
        "request_timeout": 120.0,
    }


@dataclass
class LoadWindow:
    """One timed load of one sector: the generator's result and the counters around it."""

    name: str
    lg: dict[str, Any]
    c0: Counters  # at GO
    c1: Counters  # when the generator said DONE
    timeline: list[dict[str, float]]
    caught: Counters | None = None  # when alerting had evaluated all of it (or gave up)
    caught_up: bool = False
    alongside: dict[str, tuple[Counters, Counters]] = field(default_factory=dict)

    @property
    def fresh(self) -> int:
        """Readings accepted and not duplicates, from the generator's 202 responses."""
        return int(self.lg["accepted"] - self.lg["duplicates"])

    @property
    def load_seconds(self) -> float:
        return float(self.lg["stopped_at"] - self.lg["started_at"])


async def timed_load(
    bench: Bench,
    name: str,
    scraper: Scraper,
    lg: LoadGen,
    *,
    before_go: Callable[[], Awaitable[None]] | None = None,
    at_done: Callable[[], None] | None = None,
    alongside: Sequence[Scraper] = (),
    every: tuple[float, Callable[[float], None]] | None = None,
) -> LoadWindow:
    """Run `lg` (already READY) with the sampler marks `<name>_start` and `<name>_end` around
    it. `before_go` runs just before the GO (the isolation phase starts the other sector's
    load there) and `at_done` right after DONE; `alongside` scrapers are read at GO and DONE
    too, and `every` = (period, callback) calls back with the seconds since GO at GO, every
    period, and at DONE."""
    await evaluated_all(bench, scraper, f"{name}: the warm-up to be evaluated")
    if before_go is not None:
        await before_go()
    c0, *others0 = await asyncio.gather(scraper.counters(), *(s.counters() for s in alongside))
    scraper.restart(c0)
    bench.sampler.mark(f"{name}_start")
    await lg.go()
    next_call = c0.at

    async def tick() -> None:
        nonlocal next_call
        await asyncio.gather(scraper.counters(), *(s.counters() for s in alongside))
        if every is not None and time.monotonic() >= next_call + every[0]:
            next_call += every[0]
            every[1](time.monotonic() - c0.at)

    if every is not None:
        every[1](0.0)
    result = await lg.result(tick)
    if at_done is not None:
        at_done()
    bench.sampler.mark(f"{name}_end")
    c1, *others1 = await asyncio.gather(scraper.counters(), *(s.counters() for s in alongside))
    if every is not None:
        every[1](c1.at - c0.at)
    return LoadWindow(
        name,
        result,
        c0,
        c1,
        scraper.timeline,
        alongside={
            s.endpoints.workload.sector: (a, b)
            for s, a, b in zip(alongside, others0, others1, strict=True)
        },
    )


async def catch_up(bench: Bench, scraper: Scraper, window: LoadWindow) -> None:
    """Scrape until alerting has evaluated all the window's readings, or `--catchup-timeout`;
    sampler mark `<name>_caught_up`."""
    caught = window.c1

    async def done() -> bool:
        nonlocal caught
        caught = await scraper.counters()
        return caught.alerting_evaluated - window.c0.alerting_evaluated >= window.fresh

    # Polled more often than the load is scraped: evaluated/s is measured to this moment.
    ok, _ = await wait_until(
        f"{window.name}: alerting to catch up",
        done,
        timeout=bench.args.catchup_timeout,
        interval=min(bench.args.sample_interval, 0.25),
    )
    bench.sampler.mark(f"{window.name}_caught_up")
    window.caught, window.caught_up = caught, ok
    window.timeline = scraper.timeline


def throughput(window: LoadWindow, in_flight: int) -> dict[str, Any]:
    """What ingest accepted and alerting evaluated in one window, and how the backlog went.
    `in_flight`: readings the load generator can have in flight (batch size x concurrency)."""
    lg, c0, c1 = window.lg, window.c0, window.c1
    caught = window.caught or c1
    t_go, t_stop = c0.at, c1.at
    evaluated = caught.alerting_evaluated - c0.alerting_evaluated
    evaluated_at_stop = c1.alerting_evaluated - c0.alerting_evaluated
    seconds = caught.at - t_go
    after_load = caught.at - t_stop
    posts = c1.ingest_posts - c0.ingest_posts
    handled = caught.alerting_records - c0.alerting_records
    handle_s = caught.alerting_handle_seconds - c0.alerting_handle_seconds
    accepted_per_s = window.fresh / window.load_seconds
    # Backlog = accepted - evaluated (both from /metrics), scraped once a sample interval
    # while the load ran; its least-squares slope says whether alerting fell behind. The
    # first scrape is a sample interval in, when the backlog of readings in flight (accepted,
    # not yet evaluated) has already built up, so a steady pipeline gives a slope near 0.
    # It grew if slope x load time exceeds both 2 % of the readings accepted and what the
    # load generator can have in flight (the noise of a short window).
    backlog_slope = slope(
        [
            (p["t"], p["accepted"] - p["evaluated"])
            for p in window.timeline
            if p["t"] <= t_stop - t_go
        ]
    )
    return {
        "ingest": {
            "requests": lg["requests"],
            "statuses": lg["statuses"],
            "sent_readings": lg["sent_readings"],
            "accepted": window.fresh,
            "duplicates": lg["duplicates"],
            "rejected": lg["rejected"],
            "load_seconds": round(window.load_seconds, 3),
            "accepted_per_s": round(accepted_per_s, 1),
            "metric_accepted": c1.ingest_accepted - c0.ingest_accepted,
            "metric_records_published": c1.ingest_records - c0.ingest_records,
            "server_request_seconds_mean": round(
                (c1.ingest_post_seconds - c0.ingest_post_seconds) / posts, 4
            )
            if posts
            else None,
            "request_seconds": lg["request_seconds"],
            "accepted_per_second_series": lg["accepted_per_second"],
            "load_generator_cpu_seconds": round(lg["cpu_seconds_self"], 2),
        },
        "alerting": {
            "evaluated": evaluated,
            "evaluated_at_load_stop": evaluated_at_stop,
            "backlog_at_load_stop": window.fresh - evaluated_at_stop,
            "backlog_slope_per_s": None if backlog_slope is None else round(backlog_slope, 1),
            # Growing: by more than 2 % of what ingest accepted per second.
            "backlog_grew": backlog_slope is not None
            and backlog_slope * window.load_seconds > max(0.02 * window.fresh, in_flight),
            "evaluated_per_s_during_load": round(evaluated_at_stop / (t_stop - t_go), 1),
            "caught_up": window.caught_up,
            "seconds_from_load_start": round(seconds, 2),
            "seconds_after_load_stop": round(after_load, 2),
            "evaluated_per_s": round(evaluated / seconds, 1) if seconds > 0 else 0.0,
            "evaluated_per_s_after_load": round(
                (caught.alerting_evaluated - c1.alerting_evaluated) / after_load, 1
            )
            if after_load > 0
            else None,
            "records_handled": handled,
            "handle_ms_per_record": round(1000 * handle_s / handled, 3) if handled else None,
            # Share of the time the readings consumer spent inside its batch handler.
            "consumer_busy_fraction": round(handle_s / seconds, 3) if seconds > 0 else None,
        },
    }


async def alarm_latency(
    bench: Bench, window: LoadWindow, rule_id: str, breach_pool: list[str]
) -> dict[str, Any]:
    """The window's alarms (those of its breaching devices) and their latencies.

    Waits until every breach accepted has an alarm with notifications and none is pending or
    sending (if alerting did not catch up: every alarm raised so far), or `--notify-timeout`.
    Latency is taken from each notification's timestamps: `created_at - alarm_received_at`
    and `delivered_at - alarm_received_at`, where `alarm_received_at` is when ingest accepted
    the breaching reading.

    Only an alarm's first notices count (its escalation's step 0, round 0, `FIRST_NOTICE`):
    the later steps (a call to the same people 3 min on, then the department head...) are
    due minutes after the alarm by design, and would turn a late phase's waits into latency.
    """
    conn, args = bench.conn, bench.args
    breaches = len(window.lg["breach_devices"])
    state: dict[str, int] = {}

    async def notified() -> bool:
        row = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM alerting.alarm
                    WHERE rule_id = $1 AND device_id = ANY($2::text[])) AS raised,
                   count(n.*) AS notifications,
                   count(DISTINCT n.alarm_id) AS alarms,
                   count(n.*) FILTER (WHERE n.status IN ('pending', 'sending')) AS unsettled
            FROM notify.notification n
            JOIN alerting.alarm a USING (alarm_id)
            WHERE a.rule_id = $1 AND a.device_id = ANY($2::text[])
              AND n.step = $3 AND n.round = $4
            """,
            rule_id,
            breach_pool,
            *FIRST_NOTICE,
        )
        state.update(dict(row))
        expected = breaches if window.caught_up else row["raised"]
        return bool(row["alarms"] >= expected and row["unsettled"] == 0)

    ok, waited = await wait_until(
        f"{window.name}: notifications",
        notified,
        timeout=args.notify_timeout,
        interval=args.sample_interval,
    )
    log(
        f"{window.name}: {state.get('notifications')} notifications for {state.get('alarms')} "
        f"alarms ({state.get('raised')} raised of {breaches} breaches; {waited:.1f} s after "
        "catch-up)"
    )
    rows = await conn.fetch(
        """
        SELECT n.alarm_id,
               EXTRACT(EPOCH FROM n.created_at - n.alarm_received_at)::float8 AS created_s,
               EXTRACT(EPOCH FROM n.delivered_at - n.alarm_received_at)::float8 AS delivered_s,
               EXTRACT(EPOCH FROM n.delivered_at - n.created_at)::float8 AS dispatch_s
        FROM notify.notification n
        JOIN alerting.alarm a USING (alarm_id)
        WHERE a.rule_id = $1 AND a.device_id = ANY($2::text[])
          AND n.step = $3 AND n.round = $4
        """,
        rule_id,
        breach_pool,
        *FIRST_NOTICE,
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
                   FROM notify.notification WHERE step = $3 AND round = $4
                   GROUP BY alarm_id) n ON n.alarm_id = a.alarm_id
        WHERE a.rule_id = $1 AND a.device_id = ANY($2::text[])
        """,
        rule_id,
        breach_pool,
        *FIRST_NOTICE,
    )
    per_alarm: dict[str, int] = {}
    for r in rows:
        per_alarm[r["alarm_id"]] = per_alarm.get(r["alarm_id"], 0) + 1
    return {
        "alarms": {
            "breaches_sent": breaches,
            "breaches_lost": window.lg["lost_breaches"],
            "alarms_raised": len(stages),
            "work_orders": sum(1 for r in stages if r["work_order_s"] is not None),
            "alarms_notified": len(per_alarm),
            "notifications": len(rows),
            "notifications_per_alarm": sorted(set(per_alarm.values())),
            "all_notified": ok,
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
    }
