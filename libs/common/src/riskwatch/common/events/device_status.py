"""Topic `rw.<sector>.device-status`, key `device_id`: a device went online, offline or faulty."""

from __future__ import annotations

from typing import Literal

from riskwatch.common.events.base import DeviceRef, EventPayload, Timestamp, event_type

DeviceState = Literal["online", "offline", "fault"]


@event_type("rw.device.status_changed.v1")
class DeviceStatusChanged(EventPayload):
    device: DeviceRef
    status: DeviceState
    previous_status: DeviceState | None = None
    changed_at: Timestamp
    reason: str | None = None
