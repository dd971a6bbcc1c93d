"""The demo promises a red and a yellow alarm within a minute of `make run`: check the
simulator's scripted incidents against the demo rules, without running anything."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from riskwatch.alerting.rules.domain import RuleSpec, Thresholds, classify
from riskwatch.common.catalog import default_catalog
from riskwatch.common.events.base import Level
from riskwatch.embedded.demo import DEVICES, RULES
from riskwatch.embedded.simulator import INCIDENTS, reading


def spec(rule_id: str) -> RuleSpec:
    r = RULES[rule_id]
    return RuleSpec(
        rule_id,
        1,
        r["scenario_id"],
        r["metric"],
        r["direction"],
        Thresholds(r.get("blue"), r.get("yellow"), r.get("orange"), r.get("red")),
    )


def worst_level_within(device_id: str, rule_id: str, seconds: float) -> Level | None:
    device = next(d for d in DEVICES if d.device_id == device_id)
    rng = random.Random(7)
    worst: Level | None = None
    t = 0.0
    while t <= seconds:
        value = float(reading(device, t, rng, datetime.now(UTC))["value"])  # type: ignore[arg-type]
        hit = classify(spec(rule_id), value)
        if hit and (worst is None or hit[0].rank > worst.rank):
            worst = hit[0]
        t += 2.0
    return worst


def test_the_gas_leak_reaches_red_within_a_minute() -> None:
    assert worst_level_within("gas-ljz-0001", "gas-ch4-lel", 60) is Level.RED


def test_the_bridge_reaches_yellow_within_a_minute_and_not_red() -> None:
    assert worst_level_within("bridge-zj-0001", "bridge-deflection", 60) is Level.YELLOW


def test_quiet_devices_stay_below_every_threshold() -> None:
    for device in DEVICES:
        if device.device_id in INCIDENTS:
            continue
        rule_id = next(k for k, r in RULES.items() if r["metric"] == device.metric)
        assert worst_level_within(device.device_id, rule_id, 300) is None, device.device_id


def test_demo_devices_and_rules_fit_the_catalog() -> None:
    catalog = default_catalog()
    for device in DEVICES:
        assert catalog.scenario(device.scenario_id) is not None
        assert catalog.town(device.town_id) is not None
        assert any(
            r["metric"] == device.metric and r["scenario_id"] == device.scenario_id
            for r in RULES.values()
        ), device.device_id
