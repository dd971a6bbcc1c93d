"""Pure rules of the notices about devices' liveness: which technical-alarm event tells the
technical staff what, on which channels, once. No I/O, no framework imports.

A device offline raises a technical alarm (alerting, ADR 0021); it is no safety alarm, so no
duty chain, no escalation, no voice call. The accounts holding tech_lead or tech_admin whose
scope covers the device hear of it in the app, and by SMS when notify has their phone; its
clearing (the device reports again) tells them in the app. SMS go through the storm caps: a
gateway or network outage takes hundreds of devices offline at once, and each person then gets
the first few SMS of a window and one digest counting the rest (every notice stays in the app).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from riskwatch.common.access import Role, Scope
from riskwatch.common.events.alarms import AlarmCleared, AlarmRaised
from riskwatch.common.events.base import DeviceRef, EventPayload
from riskwatch.notify.notifications.domain import CHANNELS, ChannelKind
from riskwatch.notify.templates.domain import TemplateKey

# Who is told: the technical support lead and the technical administrators, not the duty staff.
TECH_ROLES = (Role.TECH_LEAD, Role.TECH_ADMIN)
TECH_STAFF = "tech_staff"  # the audience of every device notice


@dataclass(frozen=True, slots=True)
class DeviceNoticePlan:
    """What one technical-alarm event sends: the template, on which channels, whether its SMS go
    through the storm caps, the occasion that makes every key (one notice per occasion, person
    and channel), and when the device came back (None for an offline notice)."""

    key: TemplateKey
    occasion: str
    channels: tuple[ChannelKind, ...]
    capped: bool
    online_at: datetime | None = None


def occasion(alarm_id: str, what: str) -> str:
    """device:<technical alarm id>:offline|online. The alarm is raised once per time the
    device goes offline, so a later outage of the same device is a new occasion."""
    return f"device:{alarm_id}:{what}"


def plan_device_notice(data: EventPayload) -> DeviceNoticePlan | None:
    """The notice a technical alarm's event sends, or None: raised (offline) in the app and by
    SMS, capped; cleared as recovered (back online) in the app. A safety alarm's events, and a
    technical alarm's update, send none here."""
    if isinstance(data, AlarmRaised) and data.alarm.kind == "technical":
        return DeviceNoticePlan(
            key=TemplateKey.DEVICE_OFFLINE,
            occasion=occasion(data.alarm.alarm_id, "offline"),
            channels=CHANNELS,
            capped=True,
        )
    if (
        isinstance(data, AlarmCleared)
        and data.alarm.kind == "technical"
        and data.reason == "recovered"
    ):
        return DeviceNoticePlan(
            key=TemplateKey.DEVICE_ONLINE,
            occasion=occasion(data.alarm.alarm_id, "online"),
            channels=(ChannelKind.IN_APP,),
            capped=False,
            online_at=data.cleared_at,
        )
    return None


def covers(scope: str, device: DeviceRef) -> bool:
    """Whether an account's scope (as the principal table keeps it) holds the device: the
    district every device, a sector its devices, a town or a village the devices placed there.
    A scope that does not parse holds nothing."""
    try:
        parsed = Scope.parse(scope)
    except ValueError:
        return False
    return parsed.admits(
        sector_id=device.sector_id, town_id=device.town_id, village_id=device.village_id
    )
