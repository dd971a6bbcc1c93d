"""What the benchmark sends: its two sectors' devices and rules, and which devices breach when.

`CONSTRUCTION` is the measured sector: gas wells (scenario `gas`) reporting `ch4_lel`, under
rule `bench-ch4-lel`. `EMERGENCY` is the sector the isolation phase saturates: river gauges
(scenario `flood-typhoon`) reporting `water_level_m`, under rule `bench-water-level`.
`MQTT` is construction again, with devices of its own that publish over MQTT (the mqtt
phase). `SCALE_ONE` and `SCALE_TWO` (sectors ecology and energy) carry the scale-out phase's
backlogs. Each
breaching device sends one red reading and so raises one alarm; an alarm stays active, so a
device breaches at most once per run. `BreachPools` gives every phase devices of its own, and
a phase's alarms are exactly the alarms of its devices.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, replace
from typing import Any

import httpx

from riskwatch.common.testing import admitted_by_all


@dataclass(frozen=True)
class Workload:
    sector: str
    scenario: str
    metric: str
    rule_id: str
    rule: dict[str, Any]
    breach_value: float  # above red
    normal_range: tuple[float, float]  # below blue: evaluated, never an alarm
    device_prefix: str
    site: str
    # The profile's physical range: the devices carry a profile, as issue 11 has every device
    # do, so the readings path pays for its quality flags and liveness receipts.
    physical_range: tuple[float, float] = (0.0, 100.0)

    @property
    def profile_id(self) -> str:
        return f"bench-{self.scenario}-{self.metric}"

    @property
    def profile(self) -> dict[str, Any]:
        low, high = self.physical_range
        metric = {"metric": self.metric, "unit": self.rule["unit"], "min": low, "max": high}
        return {
            "name": f"Bench: {self.site}",
            "metrics": [metric | {"precision": 3, "interval_s": 60}],
            "offline_after_intervals": 3,
        }

    def device_ids(self, n: int) -> list[str]:
        return [f"{self.device_prefix}-{i:05d}" for i in range(n)]

    @property
    def alerting_group(self) -> str:
        return f"alerting.{self.sector}"

    @property
    def readings_topic(self) -> str:
        return f"rw.{self.sector}.readings"


CONSTRUCTION = Workload(
    sector="construction",
    scenario="gas",
    metric="ch4_lel",
    rule_id="bench-ch4-lel",
    rule={
        "name": "Bench: methane in gas wells",
        "scenario_id": "gas",
        "metric": "ch4_lel",
        "direction": "above",
        "unit": "%LEL",
        "blue": 10.0,
        "yellow": 20.0,
        "orange": 25.0,
        "red": 50.0,
    },
    breach_value=61.5,
    normal_range=(0.5, 5.0),
    device_prefix="bench-gas",  # bench/barepipe.py names its devices the same way
    site="Bench valve well",
)

# The mqtt phase's devices: construction's profile and rule, ids of their own.
MQTT = replace(CONSTRUCTION, device_prefix="bench-mqtt")

EMERGENCY = Workload(
    sector="emergency",
    scenario="flood-typhoon",
    metric="water_level_m",
    rule_id="bench-water-level",
    rule={
        "name": "Bench: river water level",
        "scenario_id": "flood-typhoon",
        "metric": "water_level_m",
        "direction": "above",
        "unit": "m",
        "blue": 3.2,
        "yellow": 3.5,
        "orange": 3.8,
        "red": 4.2,
    },
    breach_value=4.6,
    normal_range=(1.0, 3.0),
    device_prefix="bench-flood",
    site="Bench river gauge",
    physical_range=(0.0, 20.0),
)


def _pipeline(sector: str, scenario: str, prefix: str) -> Workload:
    """Pipe pressure sensors of one sector: the scale-out phase's backlogs (never breached)."""
    return Workload(
        sector=sector,
        scenario=scenario,
        metric="pressure_mpa",
        rule_id=f"bench-pressure-{sector}",
        rule={
            "name": f"Bench: pipe pressure ({sector})",
            "scenario_id": scenario,
            "metric": "pressure_mpa",
            "direction": "above",
            "unit": "MPa",
            "blue": 6.0,
            "yellow": 7.0,
            "orange": 8.0,
            "red": 9.0,
        },
        breach_value=9.5,
        normal_range=(0.5, 5.0),
        device_prefix=prefix,
        site="Bench pipeline station",
        physical_range=(0.0, 16.0),
    )


# One sector drained by one alerting process, the other by two (the scale-out phase).
SCALE_ONE = _pipeline("ecology", "water-supply-drainage", "bench-water")
SCALE_TWO = _pipeline("energy", "oil-gas-pipelines", "bench-oil")


class BreachPools:
    """Hands each phase its own breaching devices, spread evenly over the device rotation (a
    contiguous block would only come up in a few of the batches of a slow, paced load)."""

    def __init__(self, device_ids: list[str]) -> None:
        self.free = list(device_ids)

    @staticmethod
    def size(breaches_per_second: float, seconds: float) -> int:
        """Devices a phase of `seconds` can breach (one more for the rounding at its end)."""
        return math.ceil(breaches_per_second * seconds) + 1 if breaches_per_second > 0 else 0

    def take(self, n: int) -> list[str]:
        if n > len(self.free):
            raise RuntimeError(f"{n} breaching devices wanted, {len(self.free)} left")
        if n == 0:
            return []
        picked = {int(j * len(self.free) / n) for j in range(n)}
        taken = [d for k, d in enumerate(self.free) if k in picked]
        self.free = [d for k, d in enumerate(self.free) if k not in picked]
        return taken


async def login(url: str, password: str, *, alerting_url: str | None = None) -> str:
    """A token of the demo's `simulator`, once ingest (and alerting) admit it (ADR 0015)."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        r = await client.post(
            "/api/v1/auth/token", data={"username": "simulator", "password": password}
        )
        r.raise_for_status()
        token: str = r.json()["access_token"]
    services = {"ingest": url} | ({"alerting": alerting_url} if alerting_url else {})
    await admitted_by_all(services, {"Authorization": f"Bearer {token}"})
    return token


async def register(
    workload: Workload,
    *,
    ingest_url: str,
    alerting_url: str,
    token: str,
    device_ids: list[str],
    towns: list[str],
) -> float:
    """PUT the profile, the devices (8 in flight) and the rule; the seconds it took."""
    headers = {"Authorization": f"Bearer {token}"}
    started = time.monotonic()
    async with (
        httpx.AsyncClient(
            base_url=ingest_url, headers=headers, timeout=60, limits=httpx.Limits(max_connections=8)
        ) as ingest,
        httpx.AsyncClient(base_url=alerting_url, headers=headers, timeout=60) as alerting,
    ):
        gate = asyncio.Semaphore(8)
        profile = f"/api/v1/device-profiles/{workload.profile_id}"
        r = await ingest.put(profile, json=workload.profile)
        if r.status_code not in (200, 201):
            raise RuntimeError(f"PUT profile: {r.status_code} {r.text[:300]}")

        async def put(i: int, device_id: str) -> None:
            body = {
                "name": f"{workload.site} {i}",
                "scenario_id": workload.scenario,
                "town_id": towns[i % len(towns)],
                "site": f"{workload.site} {i}",
                "profile_id": workload.profile_id,
            }
            async with gate:
                r = await ingest.put(f"/api/v1/devices/{device_id}", json=body)
            if r.status_code not in (200, 201):
                raise RuntimeError(f"PUT device {device_id}: {r.status_code} {r.text[:300]}")

        await asyncio.gather(*(put(i, d) for i, d in enumerate(device_ids)))
        r = await alerting.put(f"/api/v1/rules/{workload.rule_id}", json=workload.rule)
        if r.status_code not in (200, 201):
            raise RuntimeError(f"PUT rule: {r.status_code} {r.text[:300]}")
    return time.monotonic() - started


async def mqtt_credentials(
    *, ingest_url: str, token: str, device_ids: list[str]
) -> list[list[str]]:
    """PUT each device's MQTT credentials (8 in flight): [username, password, topic] each,
    the password answered this once (ADR 0020)."""
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=8)
    async with httpx.AsyncClient(
        base_url=ingest_url, headers=headers, timeout=60, limits=limits
    ) as ingest:
        gate = asyncio.Semaphore(8)

        async def put(device_id: str) -> list[str]:
            async with gate:
                r = await ingest.put(f"/api/v1/devices/{device_id}/mqtt-credentials")
            if r.status_code != 200:
                raise RuntimeError(f"PUT {device_id} credentials: {r.status_code} {r.text[:300]}")
            body = r.json()
            return [body["username"], body["password"], body["topic"]]

        return list(await asyncio.gather(*(put(d) for d in device_ids)))


async def disable_other_rules(workload: Workload, *, alerting_url: str, token: str) -> list[str]:
    """Disable every other enabled rule on the workload's scenario and metric (the embedded
    platform seeds a demo rule on gas/ch4_lel), so each breach raises exactly one alarm."""
    headers = {"Authorization": f"Bearer {token}"}
    fields = ["name", "description", "scenario_id", "metric", "direction", "unit"]
    fields += ["blue", "yellow", "orange", "red"]
    disabled: list[str] = []
    async with httpx.AsyncClient(base_url=alerting_url, headers=headers, timeout=30) as client:
        params: dict[str, Any] = {"scenario_id": workload.scenario, "metric": workload.metric}
        while True:
            r = await client.get("/api/v1/rules", params=params)
            r.raise_for_status()
            page = r.json()
            for rule in page["items"]:
                if rule["enabled"] and rule["rule_id"] != workload.rule_id:
                    body = {k: rule[k] for k in fields} | {"enabled": False}
                    put = await client.put(f"/api/v1/rules/{rule['rule_id']}", json=body)
                    put.raise_for_status()
                    disabled.append(rule["rule_id"])
            if not page.get("next_cursor"):
                return disabled
            params["cursor"] = page["next_cursor"]
