"""A demo load: realistic readings for the demo devices, with two scripted incidents so a
first run shows the whole loop within a minute.

- A gas leak at the Lujiazui valve well: methane climbs from ~1 %LEL past every threshold to
  ~60 %LEL over about 40 s (blue, yellow, orange, red: one alarm, escalated to red).
- The Zhangjiang Bridge deflection creeps from 12 mm to ~27 mm within ~25 s (a yellow alarm).
Both settle back to normal after a few minutes. Everything else is noise around a baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import structlog

from riskwatch.embedded.demo import DEVICES, DemoDevice

log = structlog.get_logger(__name__)

Profile = Callable[[float], float]  # seconds since start -> offset above the baseline


def ramp(start_s: float, rise_s: float, peak: float, hold_s: float) -> Profile:
    def offset(t: float) -> float:
        if t < start_s:
            return 0.0
        if t < start_s + rise_s:
            return peak * (t - start_s) / rise_s
        if t < start_s + rise_s + hold_s:
            return peak
        return max(0.0, peak - peak * (t - start_s - rise_s - hold_s) / rise_s)

    return offset


INCIDENTS: dict[str, Profile] = {
    "gas-ljz-0001": ramp(start_s=8, rise_s=40, peak=59.0, hold_s=180),
    "bridge-zj-0001": ramp(start_s=5, rise_s=25, peak=15.0, hold_s=180),
}


def reading(device: DemoDevice, t: float, rng: random.Random, at: datetime) -> dict[str, object]:
    profile = INCIDENTS.get(device.device_id)
    offset = profile(t) if profile is not None else 0.0
    value = device.baseline + offset + rng.gauss(0.0, device.noise)
    if device.metric in {"ch4_lel", "h2s_ppm", "door_faults_per_h", "persons_per_m2"}:
        value = max(0.0, value)
    return {
        "device_id": device.device_id,
        "metric": device.metric,
        "value": round(value, 3),
        "ts": at.isoformat(),
    }


async def run_simulator(
    client: httpx.AsyncClient,
    *,
    interval_s: float = 2.0,
    seed: int | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Post one batch for every demo device each `interval_s` until cancelled or `stop` set."""
    rng = random.Random(seed)  # noqa: S311 - simulated sensor noise, not security
    loop = asyncio.get_running_loop()
    started = loop.time()
    stop = stop or asyncio.Event()
    while not stop.is_set():
        t = loop.time() - started
        now = datetime.now(UTC)
        batch = [reading(d, t, rng, now) for d in DEVICES]
        try:
            response = await client.post("/api/v1/readings", json=batch)
            if response.status_code != 202:
                log.warning(
                    "simulator_rejected", status=response.status_code, body=response.text[:300]
                )
        except httpx.HTTPError as exc:
            log.warning("simulator_post_failed", error_type=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
