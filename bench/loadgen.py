"""The benchmark's load generator, run as its own OS process so its CPU is measured apart.

It posts batches of readings to ingest's POST /api/v1/readings with a bounded number of
requests in flight (closed loop: a new request leaves as soon as one comes back), or paced to
a target rate when `rate` is set. A few devices per second get one red reading each, once per
device (and only devices of `breach_pool`, when given). Bodies are built as strings from
pre-formatted pieces (no per-reading dict or json.dumps); httpx keeps the connections alive.

Protocol with bench/run.py, one line each on stdout/stdin:
  -> READY          after the warm-up batches were accepted
  <- GO             start the timed load
  -> DONE <path>    the result JSON is written to <path>
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Batch:
    body: bytes
    readings: int
    # (index in the body, device id) of the red readings this batch carries
    breaches: list[tuple[int, str]]


@dataclass
class Stats:
    requests: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    sent_readings: int = 0
    breach_devices: list[str] = field(default_factory=list)
    lost_breaches: int = 0
    durations: list[float] = field(default_factory=list)
    accepted_per_second: Counter[int] = field(default_factory=Counter)
    first_sent: float | None = None
    last_answered: float | None = None


class Generator:
    """Builds the next batch: devices in rotation, a few of them breaching at the red level."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.device_ids: list[str] = cfg["device_ids"]
        self.metric: str = cfg["metric"]
        self.batch_size: int = cfg["batch_size"]
        self.per_device: int = cfg["readings_per_device"]
        self.breach_rate: float = cfg["breach_rate"]
        self.breach_value: float = cfg["breach_value"]
        rnd = random.Random(cfg.get("seed", 1))
        low, high = cfg["normal_range"]
        # Pre-formatted pieces: building a body is string joins only.
        self.prefixes = [
            f'{{"device_id":"{d}","metric":"{self.metric}","value":' for d in self.device_ids
        ]
        self.values = [f"{rnd.uniform(low, high):.3f}" for _ in range(4096)]
        # Devices that may still breach: each once, and only those of `breach_pool` when it is
        # given (every phase of a run breaches its own devices, so its alarms are its own).
        allowed = cfg.get("breach_pool")
        self.breached = bytearray(len(self.device_ids))
        if allowed is not None:
            allowed_set = set(allowed)
            for i, device_id in enumerate(self.device_ids):
                self.breached[i] = device_id not in allowed_set
        self.cursor = 0
        self.value_cursor = 0
        self.last_us = 0
        self.breaches_issued = 0
        self.started: float | None = None

    def start_clock(self) -> None:
        self.started = time.monotonic()
        self.breaches_issued = 0

    def _ts_suffixes(self) -> list[str]:
        # Strictly increasing microsecond timestamps: (device, metric, ts) never repeats, so
        # ingest never sees a duplicate.
        now_us = int(time.time() * 1_000_000)
        base = max(now_us, self.last_us + 1)
        self.last_us = base + self.per_device - 1
        return [
            f',"ts":"{(EPOCH + timedelta(microseconds=base + k)).isoformat()}"}}'
            for k in range(self.per_device)
        ]

    def next_batch(self) -> Batch:
        n_devices = max(1, self.batch_size // self.per_device)
        suffixes = self._ts_suffixes()
        due = 0
        if self.started is not None and self.breach_rate > 0:
            due = int((time.monotonic() - self.started) * self.breach_rate) - self.breaches_issued
        parts: list[str] = []
        breaches: list[tuple[int, str]] = []
        n = len(self.device_ids)
        values, nv = self.values, len(self.values)
        vc = self.value_cursor
        for j in range(n_devices):
            i = (self.cursor + j) % n
            prefix = self.prefixes[i]
            breach_now = due > 0 and not self.breached[i]
            for k, suffix in enumerate(suffixes):
                if breach_now and k == self.per_device - 1:
                    breaches.append((len(parts), self.device_ids[i]))
                    parts.append(f"{prefix}{self.breach_value}{suffix}")
                else:
                    parts.append(prefix + values[vc % nv] + suffix)
                    vc += 1
            if breach_now:
                self.breached[i] = 1
                self.breaches_issued += 1
                due -= 1
        self.value_cursor = vc % nv
        self.cursor = (self.cursor + n_devices) % n
        body = ("[" + ",".join(parts) + "]").encode()
        return Batch(body, len(parts), breaches)


async def post(client: httpx.AsyncClient, batch: Batch, stats: Stats, *, record: bool) -> float:
    """Send one batch; the seconds the server asked to wait before the next (429), else 0."""
    sent = time.time()
    if record and stats.first_sent is None:
        stats.first_sent = sent
    started = time.perf_counter()
    retry_after = 0.0
    try:
        response = await client.post("/api/v1/readings", content=batch.body)
        status = str(response.status_code)
        body = response.json() if response.status_code in (202, 422) else None
        if response.status_code == 429:  # a well-behaved gateway waits as it is told
            retry_after = float(response.headers.get("retry-after", "1"))
    except httpx.HTTPError as exc:
        status, body = type(exc).__name__, None
    elapsed = time.perf_counter() - started
    if not record:
        if status != "202":
            raise SystemExit(f"warm-up request failed: {status} {body}")
        return 0.0
    answered = time.time()
    stats.last_answered = answered
    stats.requests += 1
    stats.statuses[status] += 1
    stats.durations.append(elapsed)
    stats.sent_readings += batch.readings
    if status == "202" and body is not None:
        stats.accepted += body["accepted"]
        stats.duplicates += body["duplicates"]
        stats.rejected += body["rejected"]
        stats.accepted_per_second[int(answered)] += body["accepted"] - body["duplicates"]
        refused = {e["index"] for e in body["errors"]}
        for index, device_id in batch.breaches:
            if index in refused:
                stats.lost_breaches += 1
            else:
                stats.breach_devices.append(device_id)
    else:
        stats.lost_breaches += len(batch.breaches)
    return retry_after


async def run(cfg: dict[str, Any]) -> dict[str, Any]:
    gen = Generator(cfg)
    concurrency: int = cfg["concurrency"]
    headers = {"Authorization": f"Bearer {cfg['token']}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    stats = Stats()
    async with httpx.AsyncClient(
        base_url=cfg["url"], headers=headers, timeout=cfg["request_timeout"], limits=limits
    ) as client:
        # Warm-up: a few batches so both ends have compiled statements and open connections.
        for _ in range(cfg["warmup_batches"]):
            await asyncio.gather(
                *(post(client, gen.next_batch(), stats, record=False) for _ in range(concurrency))
            )
        print("READY", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        if line.strip() != "GO":
            raise SystemExit(f"expected GO, got {line!r}")

        cpu0 = cpu_seconds()
        t0 = time.monotonic()
        wall0 = time.time()
        deadline = t0 + cfg["duration"]
        gen.start_clock()
        rate: float | None = cfg.get("rate")
        issued = 0
        lock = asyncio.Lock()

        async def worker() -> None:
            nonlocal issued
            while True:
                async with lock:
                    now = time.monotonic()
                    if now >= deadline:
                        return
                    if rate:
                        due_at = t0 + issued * gen.batch_size / rate
                        if due_at > now:
                            await asyncio.sleep(due_at - now)
                            if time.monotonic() >= deadline:
                                return
                    batch = gen.next_batch()
                    issued += 1
                wait = await post(client, batch, stats, record=True)
                if wait:
                    await asyncio.sleep(min(wait, max(0.0, deadline - time.monotonic())))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall1 = time.time()
        cpu1 = cpu_seconds()

    return {
        "started_at": wall0,
        "stopped_at": wall1,
        "first_sent_at": stats.first_sent,
        "last_answered_at": stats.last_answered,
        "requests": stats.requests,
        "statuses": dict(stats.statuses),
        "sent_readings": stats.sent_readings,
        "accepted": stats.accepted,
        "duplicates": stats.duplicates,
        "rejected": stats.rejected,
        "breach_devices": stats.breach_devices,
        "lost_breaches": stats.lost_breaches,
        "request_seconds": seconds_summary(stats.durations),
        "accepted_per_second": {str(k): v for k, v in sorted(stats.accepted_per_second.items())},
        "cpu_seconds_self": cpu1 - cpu0,
    }


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def nearest_rank(values: list[float], q: float) -> float | None:
    if not values:
        return None
    index = min(len(values) - 1, max(0, round(q / 100 * len(values) + 0.5) - 1))
    return values[index]


def seconds_summary(durations: list[float]) -> dict[str, float | None]:
    """p50, p95, p99 (nearest rank) and max of request or publish durations."""
    ordered = sorted(durations)
    return {
        "p50": nearest_rank(ordered, 50),
        "p95": nearest_rank(ordered, 95),
        "p99": nearest_rank(ordered, 99),
        "max": ordered[-1] if ordered else None,
    }


def main(
    run: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] = run, doc: str | None = __doc__
) -> None:
    """A generator's process: read the config, run, write the result, say DONE."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("config", type=Path, help="JSON config written by bench/run.py")
    parser.add_argument("result", type=Path, help="where to write the result JSON")
    args = parser.parse_args()
    cfg = json.loads(args.config.read_text())
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    result = runner(run(cfg))
    args.result.write_text(json.dumps(result))
    print(f"DONE {args.result}", flush=True)


if __name__ == "__main__":
    main()
