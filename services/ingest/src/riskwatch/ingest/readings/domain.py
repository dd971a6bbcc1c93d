"""Pure validation of a readings batch: each item passes or is rejected with its reason.

No I/O: the caller passes the known devices and the clock. One bad item never affects another:
whatever an item holds (a NUL in a string, a 400-digit number, a year-1 timestamp), it is
rejected here, before any of the batch reaches a query.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from riskwatch.common.inputs import KEY_MAX_LENGTH, is_one_line


class Reason(StrEnum):
    INVALID_ITEM = "invalid_item"
    INVALID_DEVICE_ID = "invalid_device_id"
    INVALID_METRIC = "invalid_metric"
    INVALID_VALUE = "invalid_value"
    INVALID_TIMESTAMP = "invalid_timestamp"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    UNKNOWN_DEVICE = "unknown_device"
    DEVICE_RETIRED = "device_retired"
    SECTOR_NOT_SERVED = "sector_not_served"


@dataclass(frozen=True, slots=True)
class ValidReading:
    index: int
    device_id: str
    metric: str
    value: float
    ts: datetime


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    sector_id: str
    status: str
    profile_id: str | None = None


def parse_item(
    index: int, item: Any, *, now: datetime, future_tolerance: timedelta
) -> ValidReading | Rejection:
    """Check one item's shape and values; the device is checked separately, against the registry."""
    if not isinstance(item, Mapping):
        return Rejection(index, Reason.INVALID_ITEM, "each reading must be a JSON object")
    missing = [k for k in ("device_id", "metric", "value", "ts") if k not in item]
    if missing:
        return Rejection(index, Reason.INVALID_ITEM, f"missing field(s): {', '.join(missing)}")
    extra = sorted(set(item) - {"device_id", "metric", "value", "ts"})
    if extra:
        return Rejection(index, Reason.INVALID_ITEM, f"unknown field(s): {', '.join(extra)}")
    device_id, metric, value, ts = item["device_id"], item["metric"], item["value"], item["ts"]
    if not _is_id(device_id):
        return Rejection(
            index,
            Reason.INVALID_DEVICE_ID,
            "device_id must be a string of 1-128 characters without control characters",
        )
    if not isinstance(metric, str) or not 0 < len(metric) <= 64 or not is_one_line(metric):
        return Rejection(
            index,
            Reason.INVALID_METRIC,
            "metric must be a string of 1-64 characters without control characters",
        )
    # bool is an int in Python but never a measurement.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Rejection(
            index, Reason.INVALID_VALUE, f"value must be a number, got {_json_type(value)}"
        )
    try:
        number = float(value)
    except OverflowError:  # a JSON integer literal beyond any float (hundreds of digits)
        return Rejection(index, Reason.INVALID_VALUE, "value is out of range")
    if not math.isfinite(number):
        return Rejection(index, Reason.INVALID_VALUE, "value must be finite")
    when = _parse_ts(ts)
    if when is None:
        return Rejection(
            index, Reason.INVALID_TIMESTAMP, "ts must be an ISO 8601 timestamp with a UTC offset"
        )
    if when - now > future_tolerance:
        return Rejection(
            index,
            Reason.TIMESTAMP_IN_FUTURE,
            f"ts is {int((when - now).total_seconds())} s ahead of the server clock",
        )
    return ValidReading(index, device_id, metric, number, when)


def check_device(
    reading: ValidReading, device: DeviceInfo | None, *, serves: Callable[[str], bool]
) -> Rejection | None:
    if device is None:
        return Rejection(
            reading.index, Reason.UNKNOWN_DEVICE, f"device {reading.device_id!r} is not registered"
        )
    if device.status != "active":
        return Rejection(
            reading.index, Reason.DEVICE_RETIRED, f"device {reading.device_id!r} is {device.status}"
        )
    if not serves(device.sector_id):
        return Rejection(
            reading.index,
            Reason.SECTOR_NOT_SERVED,
            f"this ingest instance does not serve sector {device.sector_id!r}",
        )
    return None


def validate_batch(
    items: Sequence[Any],
    *,
    devices: Mapping[str, DeviceInfo],
    now: datetime,
    future_tolerance: timedelta,
    serves: Callable[[str], bool],
) -> tuple[list[ValidReading], list[Rejection]]:
    valid: list[ValidReading] = []
    rejected: list[Rejection] = []
    for index, item in enumerate(items):
        parsed = parse_item(index, item, now=now, future_tolerance=future_tolerance)
        if isinstance(parsed, Rejection):
            rejected.append(parsed)
            continue
        problem = check_device(parsed, devices.get(parsed.device_id), serves=serves)
        if problem is not None:
            rejected.append(problem)
        else:
            valid.append(parsed)
    return valid, rejected


def device_ids_of(items: Sequence[Any]) -> set[str]:
    """The device ids worth looking up: those of items shaped well enough to carry one. An id
    that `parse_item` rejects is left out, or one bad item would fail the lookup of all."""
    return {
        item["device_id"]
        for item in items
        if isinstance(item, Mapping) and _is_id(item.get("device_id"))
    }


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= KEY_MAX_LENGTH and is_one_line(value)


def _parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        # In UTC, as stored: year 1 at +05:00 or year 9999 at -05:00 has no UTC time.
        return when.astimezone(UTC) if when.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
