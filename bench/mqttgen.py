"""The benchmark's MQTT load generator: its own OS process, like bench/loadgen.py and with its
protocol (READY, GO, DONE). One connection per device, each with the device's own credentials,
publishing readings at QoS 1 to rw/v1/<device_id>/telemetry through ingest's Mosquitto.

The broker acknowledges a QoS 1 publish once it holds the message, not once ingest took it
(ingest acknowledges its deliveries after its commit, ADR 0020), so a loop closed on PUBACKs
alone would measure the broker and fill its queue for ingest, which drops messages past
`max_queued_messages`. The loop is closed twice: each connection has at most `inflight`
publishes the broker has not acknowledged, and all of them together at most `max_backlog`
messages ingest has not taken yet (`rw_mqtt_messages_total` on ingest's /metrics, read every
`poll_interval`). After `duration` it stops publishing and waits until ingest has taken every
message; the timed window ends there.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiomqtt
import httpx
from figures import metric_value
from loadgen import EPOCH, cpu_seconds, main, seconds_summary

# What ingest has taken, from its /metrics: name -> (metric, labels).
TAKEN = {
    "messages": ("rw_mqtt_messages_total", {}),
    "handled": ("rw_mqtt_messages_total", {"outcome": "handled"}),
    "unparseable": ("rw_mqtt_messages_total", {"outcome": "unparseable"}),
    "failed": ("rw_mqtt_messages_total", {"outcome": "failed"}),
    "accepted": ("rw_readings_total", {"stage": "ingest", "outcome": "accepted"}),
    "duplicates": ("rw_readings_total", {"stage": "ingest", "outcome": "duplicate"}),
    "rejected": ("rw_mqtt_readings_rejected_total", {}),
}


def taken(metrics_text: str) -> dict[str, float]:
    """The TAKEN figures of one /metrics page."""
    names = tuple({name for name, _ in TAKEN.values()})
    text = "\n".join(line for line in metrics_text.splitlines() if line.startswith(names))
    return {key: metric_value(text, name, **labels) for key, (name, labels) in TAKEN.items()}


def since(now: dict[str, float], base: dict[str, float]) -> dict[str, float]:
    return {key: now[key] - base[key] for key in now}


class Device:
    """One device's readings: strictly increasing timestamps, so (device, metric, ts) never
    repeats and ingest sees no duplicate."""

    def __init__(self, cfg: dict[str, Any], credential: list[str], values: list[str]) -> None:
        self.username, self.password, self.topic = credential
        self.per_message: int = cfg["readings_per_message"]
        self.prefix = f'{{"metric":"{cfg["metric"]}","value":'
        self.values = values
        self.cursor = random.Random(self.username).randrange(len(values))
        self.last_us = 0

    def payload(self) -> bytes:
        """One reading `{metric, value, ts}`, or a list of them (what ingest's MQTT path takes:
        the device is the topic's)."""
        base = max(int(time.time() * 1_000_000), self.last_us + 1)
        self.last_us = base + self.per_message - 1
        items = []
        for k in range(self.per_message):
            self.cursor = (self.cursor + 1) % len(self.values)
            ts = (EPOCH + timedelta(microseconds=base + k)).isoformat()
            items.append(f'{self.prefix}{self.values[self.cursor]},"ts":"{ts}"}}')
        body = items[0] if self.per_message == 1 else "[" + ",".join(items) + "]"
        return body.encode()


@dataclass
class Flow:
    """Messages published, and taken by ingest (polled): publishers wait while the messages
    ingest has not taken reach `bound`."""

    http: httpx.AsyncClient
    metrics_url: str
    bound: int
    base: dict[str, float] = field(default_factory=dict)
    latest: dict[str, float] = field(default_factory=dict)
    sent: int = 0
    # Readings ingest accepted by the wall-clock second of the poll that saw them.
    per_second: dict[int, float] = field(default_factory=dict)
    cond: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def read(self) -> None:
        """Poll ingest: `latest` is what it took since `base`."""
        response = await self.http.get(self.metrics_url)
        response.raise_for_status()
        now = taken(response.text)
        self.base = self.base or now
        self.latest = since(now, self.base)

    async def restart(self) -> None:
        """Count from now: what ingest took before is not this window's."""
        self.base, self.sent, self.per_second = {}, 0, {}
        await self.read()

    @property
    def backlog(self) -> float:
        return self.sent - self.latest["messages"]

    async def admit(self) -> None:
        if self.backlog >= self.bound:
            async with self.cond:
                await self.cond.wait_for(lambda: self.backlog < self.bound)
        self.sent += 1

    async def poll(self, interval: float) -> None:
        while True:
            await self.read()
            self.per_second[int(time.time())] = self.latest["accepted"]
            async with self.cond:
                self.cond.notify_all()
            await asyncio.sleep(interval)

    async def drained(self, timeout: float, interval: float = 0.05) -> bool:
        """Poll until ingest has taken every message sent (or `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self.read()
            if self.backlog <= 0:
                return True
            await asyncio.sleep(interval)
        return False

    def accepted_per_second(self) -> dict[str, float]:
        out, last = {}, 0.0
        for second in sorted(self.per_second):
            out[str(second)] = self.per_second[second] - last
            last = self.per_second[second]
        return out


async def connect(
    stack: contextlib.AsyncExitStack, cfg: dict[str, Any], device: Device
) -> aiomqtt.Client:
    """Connect as the device, retrying while the broker does not know it yet (ingest writes
    the password file within its sync interval of the credentials' PUT)."""
    deadline = time.monotonic() + cfg["connect_timeout"]
    while True:
        client = aiomqtt.Client(
            cfg["host"],
            cfg["port"],
            username=device.username,
            password=device.password,
            identifier=f"bench-{device.username}",
            max_inflight_messages=cfg["inflight"],
        )
        try:
            return await stack.enter_async_context(client)
        except aiomqtt.MqttError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def run(cfg: dict[str, Any]) -> dict[str, Any]:
    rnd = random.Random(cfg.get("seed", 1))
    low, high = cfg["normal_range"]
    values = [f"{rnd.uniform(low, high):.3f}" for _ in range(4096)]
    devices = [Device(cfg, credential, values) for credential in cfg["credentials"]]
    durations: list[float] = []
    async with httpx.AsyncClient(timeout=30) as http, contextlib.AsyncExitStack() as stack:
        flow = Flow(http, cfg["metrics_url"], cfg["max_backlog"])
        await flow.restart()
        clients = await asyncio.gather(*(connect(stack, cfg, d) for d in devices))
        # Warm-up: one message per device, taken by ingest before READY.
        flow.sent = len(devices)
        await asyncio.gather(
            *(c.publish(d.topic, d.payload(), qos=1) for c, d in zip(clients, devices, strict=True))
        )
        if not await flow.drained(cfg["drain_timeout"]):
            raise SystemExit(f"ingest took {flow.latest} of the {flow.sent} warm-up messages")
        print("READY", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        if line.strip() != "GO":
            raise SystemExit(f"expected GO, got {line!r}")

        await flow.restart()
        cpu0, wall0 = cpu_seconds(), time.time()
        deadline = time.monotonic() + cfg["duration"]
        poller = asyncio.create_task(flow.poll(cfg["poll_interval"]))

        async def publisher(client: aiomqtt.Client, device: Device) -> None:
            while time.monotonic() < deadline:
                await flow.admit()
                started = time.perf_counter()
                await client.publish(device.topic, device.payload(), qos=1)
                durations.append(time.perf_counter() - started)

        publishing = asyncio.gather(
            *(
                publisher(c, d)
                for c, d in zip(clients, devices, strict=True)
                for _ in range(cfg["inflight"])
            )
        )
        await asyncio.wait({publishing, poller}, return_when=asyncio.FIRST_COMPLETED)
        if poller.done():  # it failed: the publishers would wait for it for ever
            publishing.cancel()
            poller.result()
        poller.cancel()
        await publishing
        # What ingest had still to take when publishing stopped: more than a batch (200) says
        # it was ingest, not this generator, that set the pace.
        stopped = time.time()
        await flow.read()
        backlog_at_stop = flow.backlog
        drained = await flow.drained(cfg["drain_timeout"])
        wall1, cpu1 = time.time(), cpu_seconds()
    t = flow.latest
    return {
        "started_at": wall0,
        "stopped_at": wall1,
        "drained": drained,
        "backlog_at_stop": int(backlog_at_stop),
        "drain_seconds": round(wall1 - stopped, 3),
        "requests": flow.sent,
        "statuses": {"puback": len(durations)},
        "sent_readings": flow.sent * cfg["readings_per_message"],
        "accepted": int(t["accepted"]),
        "duplicates": int(t["duplicates"]),
        "rejected": int(t["rejected"]),
        "messages": {k: int(t[k]) for k in ("messages", "handled", "unparseable", "failed")},
        "breach_devices": [],
        "lost_breaches": 0,
        # publish -> PUBACK from the broker (not from ingest)
        "request_seconds": seconds_summary(durations),
        "accepted_per_second": flow.accepted_per_second(),
        "cpu_seconds_self": cpu1 - cpu0,
    }


if __name__ == "__main__":
    main(run, __doc__)
