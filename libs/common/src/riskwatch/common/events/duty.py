"""Topic `rw.duty`, key `duty_center_id`: a roster was published, someone checked in for a shift."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from riskwatch.common.events.base import EventPayload, Timestamp, event_type


class ShiftRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    shift_id: str
    person_id: str
    starts_at: Timestamp
    ends_at: Timestamp


@event_type("rw.duty.roster_published.v1")
class RosterPublished(EventPayload):
    roster_id: str
    duty_center_id: str
    period_start: Timestamp
    period_end: Timestamp
    shifts: list[ShiftRef]
    published_at: Timestamp


@event_type("rw.duty.checked_in.v1")
class DutyCheckedIn(EventPayload):
    duty_center_id: str
    shift_id: str
    person_id: str
    checked_in_at: Timestamp
