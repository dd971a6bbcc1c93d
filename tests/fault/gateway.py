"""The load of a fault case: well-behaved gateways posting readings to ingest.

A gateway owns its devices and posts one batch of readings (each of its devices once) at a
steady pace. A batch is kept until ingest takes it: on 202 or 422 the gateway goes on, on 503,
429, a connection error or a timeout it waits (the Retry-After it was given, else a second)
and sends the same bytes again; resent readings are deduplicated by ingest, so a reading is
stored once however often it travels. Batches measured while one is being retried queue up
behind it and leave as soon as ingest takes them again: what a gateway with a buffer does.
Each device scheduled to breach sends one red reading, once, in the first batch measured at
or after its breach time; every other reading is below the rule's blue threshold.

`Ledger` keeps what the gateways did: the readings sent, the answers got, each breach's
measuring time and device, and anything a well-behaved gateway should never be answered.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

READINGS = "/api/v1/readings"
METRIC = "ch4_lel"
RED_VALUE = 61.5  # above the rule's red threshold (50)
NORMAL_RANGE = (0.5, 5.0)  # below its blue threshold (10): evaluated, never an alarm
RETRY_STATUSES = frozenset({429, 503})
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Batches not taken this long after the load's planned end are given up (and reported): a
# case must end even when the platform never comes back.
GIVE_UP_AFTER_S = 240.0


@dataclass
class Ledger:
    """Everything the gateways of one case sent and were answered."""

    readings: int = 0  # distinct readings (device, metric, ts) in batches that got a 202
    batches: int = 0
    attempts: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0  # readings ingest reported as already stored (resends)
    retry_after_missing: int = 0  # 429/503 without a Retry-After header
    breaches: dict[str, float] = field(default_factory=dict)  # device -> measured at (epoch s)
    unexpected: list[str] = field(default_factory=list)  # answers a gateway should never get
    given_up: int = 0
    give_up_at: float = float("inf")  # monotonic time after which no batch is retried

    def summary(self) -> dict[str, object]:
        return {
            "batches": self.batches,
            "attempts": self.attempts,
            "readings": self.readings,
            "duplicates": self.duplicates,
            "statuses": dict(sorted(self.statuses.items())),
            "breaches_sent": len(self.breaches),
            "unexpected": self.unexpected[:10],
            "given_up": self.given_up,
        }


@dataclass(frozen=True)
class Batch:
    body: bytes
    readings: int
    breaches: tuple[str, ...]  # devices whose red reading this batch carries
    measured_at: float  # epoch seconds


class Readings:
    """Builds batches: strictly increasing timestamps, so no two readings share a key."""

    def __init__(self, seed: int) -> None:
        self._rnd = random.Random(seed)
        self._last_us = 0

    def _ts(self) -> tuple[str, float]:
        now = time.time()
        us = max(int(now * 1_000_000), self._last_us + 1)
        self._last_us = us
        return (EPOCH + timedelta(microseconds=us)).isoformat(), now

    def batch(self, devices: Sequence[str], red: Sequence[str] = ()) -> Batch:
        ts, now = self._ts()
        reds = set(red)
        low, high = NORMAL_RANGE
        parts = [
            f'{{"device_id":"{d}","metric":"{METRIC}","value":'
            f"{RED_VALUE if d in reds else round(self._rnd.uniform(low, high), 3)}"
            f',"ts":"{ts}"}}'
            for d in devices
        ]
        body = ("[" + ",".join(parts) + "]").encode()
        return Batch(body, len(parts), tuple(d for d in devices if d in reds), now)


async def deliver(client: httpx.AsyncClient, batch: Batch, ledger: Ledger) -> None:
    """Send `batch` until ingest takes it (202) or refuses it for good (422)."""
    ledger.batches += 1
    while True:
        ledger.attempts += 1
        wait = 1.0
        try:
            response = await client.post(READINGS, content=batch.body)
        except httpx.TransportError as exc:  # refused, reset, timed out: the same batch again
            ledger.statuses[type(exc).__name__] += 1
        else:
            status = response.status_code
            ledger.statuses[str(status)] += 1
            if status == 202:
                body = response.json()
                ledger.readings += batch.readings
                ledger.duplicates += int(body["duplicates"])
                if body["rejected"]:
                    ledger.unexpected.append(f"202 with rejections: {body['errors'][:3]}")
                for device in batch.breaches:
                    ledger.breaches[device] = batch.measured_at
                return
            if status == 422:
                ledger.unexpected.append(f"422: {response.text[:300]}")
                return
            if status in RETRY_STATUSES:
                header = response.headers.get("retry-after")
                if header is None:
                    ledger.retry_after_missing += 1
                else:
                    wait = float(header)
            else:
                ledger.unexpected.append(f"{status}: {response.text[:300]}")
        if time.monotonic() + wait > ledger.give_up_at:
            ledger.given_up += 1
            if ledger.given_up == 1:
                ledger.unexpected.append("gave up: ingest did not take the batches in time")
            return
        await asyncio.sleep(wait)


class Gateway:
    """One gateway: its devices, each once per batch, `batches_per_s` batches a second for
    `seconds`; `breach_at` maps its breaching devices to seconds after the start."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        ledger: Ledger,
        devices: Sequence[str],
        breach_at: dict[str, float],
        *,
        batches_per_s: float,
        seconds: float,
        seed: int,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.devices = list(devices)
        self.breach_at = dict(breach_at)
        self.interval = 1.0 / batches_per_s
        self.seconds = seconds
        self.readings = Readings(seed)
        self.measured = 0
        self.pending: asyncio.Queue[Batch | None] = asyncio.Queue()

    async def run(self, started: float) -> None:
        """Measure on schedule from monotonic time `started`; return once all were taken."""
        sender = asyncio.create_task(self._send())
        try:
            await self._measure(started)
            await sender
        finally:
            sender.cancel()

    async def _measure(self, started: float) -> None:
        k = 0
        due_breaches = sorted(self.breach_at.items(), key=lambda item: item[1])
        while True:
            due = started + k * self.interval
            if due - started >= self.seconds:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            elapsed = time.monotonic() - started
            red = [d for d, at in due_breaches if at <= elapsed]
            due_breaches = [(d, at) for d, at in due_breaches if at > elapsed]
            self.pending.put_nowait(self.readings.batch(self.devices, red))
            self.measured += 1
            k += 1
        # Breaches scheduled in the last interval still go out, in one last batch.
        if due_breaches:
            red = [d for d, _ in due_breaches]
            self.pending.put_nowait(self.readings.batch(self.devices, red))
        self.pending.put_nowait(None)

    async def _send(self) -> None:
        while (batch := await self.pending.get()) is not None:
            await deliver(self.client, batch, self.ledger)

    @property
    def backlog(self) -> int:
        """Batches measured and not yet taken by ingest (beyond the one in flight)."""
        return self.pending.qsize()


def breach_schedule(devices: Sequence[str], seconds: float) -> dict[str, float]:
    """Spread the breaches of `devices` evenly over (0, seconds)."""
    n = len(devices)
    if n == 0:
        return {}
    step = seconds / n
    return {device: step * (i + 0.5) for i, device in enumerate(devices)}


async def burst(
    client: httpx.AsyncClient,
    ledger: Ledger,
    devices: Sequence[str],
    *,
    requests: int,
    red: Sequence[str],
    seed: int,
) -> None:
    """`requests` batches of `devices` posted all at once, each retried as a gateway does;
    the devices of `red` breach in the first batches (one red reading each)."""
    readings = Readings(seed)
    per_batch = max(1, -(-len(red) // max(1, requests)))
    batches = [
        readings.batch(devices, red[i * per_batch : (i + 1) * per_batch]) for i in range(requests)
    ]
    await asyncio.gather(*(deliver(client, b, ledger) for b in batches))
