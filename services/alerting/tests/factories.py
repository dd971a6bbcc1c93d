"""Builders for alerting tests: readings batches and rules with sensible defaults."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from riskwatch.alerting.rules.schemas import RulePut
from riskwatch.common.events import EventPayload, new_event
from riskwatch.common.events.base import DeviceRef
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.readings import DeviceReadings, Reading, ReadingsAccepted

T0 = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


def device(device_id: str = "gas-001", scenario_id: str = "gas") -> DeviceRef:
    return DeviceRef(
        device_id=device_id,
        sector_id="construction",
        scenario_id=scenario_id,
        town_id="lujiazui",
        name=f"{device_id} well",
    )


def batch(
    *values: float,
    metric: str = "ch4_lel",
    dev: DeviceRef | None = None,
    start: datetime = T0,
    flags: Sequence[int] = (),
) -> ReadingsAccepted:
    """One device's readings, 10 s apart, as ingest would publish them; `flags` are the quality
    flags of the first readings (the rest have none)."""
    marks = [*flags, *[0] * (len(values) - len(flags))]
    return ReadingsAccepted(
        batch_id=str(uuid.uuid4()),
        devices=[
            DeviceReadings(
                device=dev or device(),
                readings=[
                    Reading(
                        metric=metric,
                        value=v,
                        ts=start + timedelta(seconds=10 * i),
                        flags=marks[i],
                    )
                    for i, v in enumerate(values)
                ],
            )
        ],
        received_at=start + timedelta(seconds=10 * len(values)),
    )


def envelopes(*batches: ReadingsAccepted) -> list[Envelope[EventPayload]]:
    return [new_event(b, source="/test", subject=b.batch_id) for b in batches]


def gas_rule(**overrides: object) -> RulePut:
    data: dict[str, object] = {
        "name": "Methane in gas well (%LEL)",
        "scenario_id": "gas",
        "metric": "ch4_lel",
        "direction": "above",
        "blue": 10.0,
        "yellow": 20.0,
        "orange": 25.0,
        "red": 50.0,
        "unit": "%LEL",
    }
    data.update(overrides)
    return RulePut.model_validate(data)
