"""Demo data for a first run: devices in several sectors and towns, threshold rules with the
four warning levels. Loaded through the public HTTP APIs (PUT is idempotent), so the same
code seeds the embedded platform and a distributed stack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class DemoDevice:
    device_id: str
    name: str
    scenario_id: str
    town_id: str
    metric: str
    baseline: float
    noise: float
    site: str | None = None


DEVICES = (
    DemoDevice(
        "gas-ljz-0001",
        "Gas valve well, Lujiazui Ring Rd",
        "gas",
        "lujiazui",
        "ch4_lel",
        1.0,
        0.6,
        "Lujiazui Ring Road No.3 valve well",
    ),
    DemoDevice("gas-hm-0002", "Gas pressure station, Huamu", "gas", "huamu", "ch4_lel", 0.8, 0.5),
    DemoDevice(
        "bridge-zj-0001",
        "Zhangjiang Bridge span 2 deflection",
        "bridges",
        "zhangjiang",
        "deflection_mm",
        12.0,
        1.5,
        "Zhangjiang Bridge, span 2 mid-point",
    ),
    DemoDevice(
        "tunnel-jq-0001",
        "Utility tunnel section 4, Jinqiao",
        "utility-tunnels",
        "jinqiao",
        "o2_pct",
        20.8,
        0.1,
    ),
    DemoDevice(
        "flood-cs-0001",
        "Chuansha river gauge",
        "flood-typhoon",
        "chuansha",
        "water_level_m",
        2.6,
        0.05,
    ),
    DemoDevice(
        "chem-gq-0001",
        "Gaoqiao tank farm H2S detector",
        "hazardous-chemicals",
        "gaoqiao",
        "h2s_ppm",
        0.5,
        0.3,
    ),
    DemoDevice(
        "water-sl-0001",
        "Sanlin trunk main pressure",
        "water-supply-drainage",
        "sanlin",
        "pressure_mpa",
        0.32,
        0.01,
    ),
    DemoDevice(
        "lift-wf-0001",
        "Weifang Rd residential lift #3",
        "elevators",
        "weifang",
        "door_faults_per_h",
        0.0,
        0.2,
    ),
    DemoDevice(
        "power-hn-0001",
        "Huinan 10 kV cable joint",
        "power-supply",
        "huinan",
        "joint_temp_c",
        38.0,
        1.0,
    ),
    DemoDevice(
        "crowd-ljz-0001",
        "Lujiazui footbridge crowd density",
        "large-crowds",
        "lujiazui",
        "persons_per_m2",
        0.8,
        0.2,
    ),
)

RULES: dict[str, dict[str, Any]] = {
    "gas-ch4-lel": {
        "name": "Methane in gas wells",
        "scenario_id": "gas",
        "metric": "ch4_lel",
        "direction": "above",
        "unit": "%LEL",
        "blue": 10.0,
        "yellow": 20.0,
        "orange": 25.0,
        "red": 50.0,
        "description": "Combustible gas concentration as a share of the lower explosive limit.",
    },
    "bridge-deflection": {
        "name": "Bridge span deflection",
        "scenario_id": "bridges",
        "metric": "deflection_mm",
        "direction": "above",
        "unit": "mm",
        "blue": 20.0,
        "yellow": 25.0,
        "orange": 32.0,
        "red": 40.0,
    },
    "tunnel-oxygen": {
        "name": "Oxygen in utility tunnels",
        "scenario_id": "utility-tunnels",
        "metric": "o2_pct",
        "direction": "below",
        "unit": "%",
        "yellow": 19.5,
        "orange": 18.0,
        "red": 16.0,
    },
    "flood-water-level": {
        "name": "River water level",
        "scenario_id": "flood-typhoon",
        "metric": "water_level_m",
        "direction": "above",
        "unit": "m",
        "blue": 3.2,
        "yellow": 3.5,
        "orange": 3.8,
        "red": 4.2,
    },
    "chem-h2s": {
        "name": "Hydrogen sulphide at chemical sites",
        "scenario_id": "hazardous-chemicals",
        "metric": "h2s_ppm",
        "direction": "above",
        "unit": "ppm",
        "blue": 5.0,
        "yellow": 10.0,
        "orange": 15.0,
        "red": 20.0,
    },
    "water-pressure-low": {
        "name": "Trunk main pressure drop",
        "scenario_id": "water-supply-drainage",
        "metric": "pressure_mpa",
        "direction": "below",
        "unit": "MPa",
        "blue": 0.25,
        "yellow": 0.2,
        "orange": 0.15,
        "red": 0.1,
    },
    "lift-door-faults": {
        "name": "Elevator door faults",
        "scenario_id": "elevators",
        "metric": "door_faults_per_h",
        "direction": "above",
        "unit": "/h",
        "blue": 3.0,
        "yellow": 6.0,
        "red": 12.0,
    },
    "power-joint-temp": {
        "name": "Cable joint temperature",
        "scenario_id": "power-supply",
        "metric": "joint_temp_c",
        "direction": "above",
        "unit": "°C",
        "blue": 60.0,
        "yellow": 70.0,
        "orange": 80.0,
        "red": 90.0,
    },
    "crowd-density": {
        "name": "Crowd density",
        "scenario_id": "large-crowds",
        "metric": "persons_per_m2",
        "direction": "above",
        "unit": "persons/m²",
        "blue": 2.0,
        "yellow": 3.0,
        "orange": 4.0,
        "red": 5.0,
    },
}


async def seed_demo(ingest: httpx.AsyncClient, alerting: httpx.AsyncClient) -> None:
    """Register the demo devices and rules; safe to repeat (every call is an idempotent PUT)."""
    for device in DEVICES:
        body: dict[str, Any] = {
            "name": device.name,
            "scenario_id": device.scenario_id,
            "town_id": device.town_id,
        }
        if device.site:
            body["site"] = device.site
        (await ingest.put(f"/api/v1/devices/{device.device_id}", json=body)).raise_for_status()
    for rule_id, rule in RULES.items():
        (await alerting.put(f"/api/v1/rules/{rule_id}", json=rule)).raise_for_status()
