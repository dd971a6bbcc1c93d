"""Topic `rw.duty`, key `duty_center_id`: a roster was published, someone checked in for a shift."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from riskwatch.common.events.base import EventPayload, Timestamp, event_type

# Duty center ids of the district's own centers (duty events name centers, never sectors or
# towns): the one place the convention is written, for notify, which makes them, and reporting,
# which reads a sector's report by its center.
DISTRICT_CENTER_ID = "district"


def sector_center_id(sector_id: str) -> str:
    return f"sector-{sector_id}"


def street_center_id(town_id: str) -> str:
    return f"street-{town_id}"


class ShiftRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    shift_id: str
    person_id: str
    starts_at: Timestamp
    ends_at: Timestamp


@event_type("rw.duty.roster_published.v1")
class RosterPublished(EventPayload):
    """A roster's shifts as published. Publishing the same roster again (after a swap or an
    override) carries all its shifts again, with a higher `version`: it replaces the older
    publication, whose shifts not listed any more are gone."""

    roster_id: str
    version: int
    duty_center_id: str
    period_start: Timestamp
    period_end: Timestamp
    shifts: list[ShiftRef]
    published_at: Timestamp


@event_type("rw.duty.checked_in.v1")
class DutyCheckedIn(EventPayload):
    """The person on a shift reported for duty (报到). `late`: after the shift's start plus the
    grace period of the notify service (RW_CHECK_IN_GRACE_MIN) that was in force."""

    duty_center_id: str
    shift_id: str
    person_id: str
    checked_in_at: Timestamp
    late: bool
    via: Literal["api", "sms"]


@event_type("rw.duty.center_changed.v1")
class DutyCenterChanged(EventPayload):
    """A duty center as it is now, after any change of it or of its members: workorder keeps
    who may act on a unit's orders from these. `active` false: the center was removed."""

    duty_center_id: str
    name: str
    leader_id: str | None
    member_ids: list[str]
    active: bool = True
    changed_at: Timestamp
