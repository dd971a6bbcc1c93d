"""The live feed on the terminal of `make run`: one readable line per alarm, work order and
notification, so the person who started the platform sees the loop close without a client."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter

from riskwatch.common.app import Named, Runtime, consumer
from riskwatch.common.bus import Delivery, TopicSpec
from riskwatch.common.events import EventPayload
from riskwatch.common.events.alarms import AlarmCleared, AlarmRaised, AlarmUpdated
from riskwatch.common.events.duty import DutyCheckedIn, RosterPublished
from riskwatch.common.events.notifications import NotificationAcknowledged, NotificationDelivered
from riskwatch.common.events.topics import ALARMS, DUTY, NOTIFICATIONS, WORKORDERS
from riskwatch.common.events.workorders import (
    WorkOrderCreated,
    WorkOrderDeadlineApproaching,
    WorkOrderOverdue,
    WorkOrderStateChanged,
)
from riskwatch.common.settings import ServiceSettings

_COLOURS = {"blue": "\033[34m", "yellow": "\033[33m", "orange": "\033[38;5;208m", "red": "\033[31m"}


def describe(data: EventPayload, tz: ZoneInfo) -> str | None:
    """A line for the terminal, or None for events not worth a line.

    Its values come from events, and so from whoever registers a device or posts to the API: a
    newline in a device name must not start a forged line, nor ESC [ ... clear the screen.
    """
    line = _compose(data, tz)
    return None if line is None else _printable(line)


def _printable(line: str) -> str:
    """`line` with each character a terminal would act on (control characters, escapes, bidi
    overrides, lone surrogates) written as its Python escape instead: visible, and inert."""
    if line.isprintable():
        return line
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in line)


def _compose(data: EventPayload, tz: ZoneInfo) -> str | None:
    def clock(at: datetime) -> str:
        return at.astimezone(tz).strftime("%H:%M:%S")

    if isinstance(data, AlarmRaised | AlarmUpdated):
        a = data.alarm
        if isinstance(data, AlarmRaised):
            verb, at = "raised", a.raised_at
        else:
            verb, at = f"escalated from {data.previous_level}", data.updated_at
        where = a.device.name or a.device.device_id
        return (
            f"{clock(at)}  {a.level.upper():6} alarm {verb}: {a.rule_id} "
            f"{a.metric}={a.value:g} (threshold {a.threshold:g}) at {where} "
            f"[{a.device.town_id}]  alarm {a.alarm_id[:8]}"
        )
    if isinstance(data, AlarmCleared):
        return f"{clock(data.cleared_at)}  alarm {data.alarm.alarm_id[:8]} cleared ({data.reason})"
    if isinstance(data, WorkOrderCreated):
        w = data.work_order
        due = w.due_at.astimezone(tz).strftime("%m-%d %H:%M")
        return (
            f"{clock(w.created_at)}  work order {w.work_order_id[:8]} opened for alarm "
            f"{w.alarm_id[:8]} ({w.level}), to be closed by {due}"
        )
    if isinstance(data, WorkOrderStateChanged):
        w = data.work_order
        to = f" to {w.unit_id}" + (f", {w.assignee}" if w.assignee else "")
        return (
            f"{clock(data.changed_at)}  work order {w.work_order_id[:8]} {data.action}: "
            f"{data.from_status} -> {data.to_status} by {data.actor}"
            + (to if data.action in ("dispatch", "transfer") and w.unit_id else "")
        )
    if isinstance(data, WorkOrderDeadlineApproaching | WorkOrderOverdue):
        w = data.work_order
        due = data.stage_due_at.astimezone(tz).strftime("%H:%M:%S")
        if isinstance(data, WorkOrderDeadlineApproaching):
            at, what = data.reminded_at, f"reminder: {data.stage} due at {due}"
        else:
            at, what = data.overdue_at, f"OVERDUE: {data.stage} was due at {due}"
        return f"{clock(at)}  work order {w.work_order_id[:8]} {what} ({w.unit_id})"
    if isinstance(data, NotificationDelivered):
        n = data.notification
        return (
            f"{clock(data.delivered_at)}  notified {n.person_id} at {n.duty_center_id} "
            f"by {n.channel} (alarm {n.alarm_id[:8]})"
        )
    if isinstance(data, NotificationAcknowledged):
        n = data.notification
        who = data.acknowledged_by
        return f"{clock(data.acknowledged_at)}  {who} acknowledged alarm {n.alarm_id[:8]}"
    if isinstance(data, RosterPublished):
        people = len({s.person_id for s in data.shifts})
        again = f" again (v{data.version})" if data.version > 1 else ""
        return (
            f"{clock(data.published_at)}  roster of {data.duty_center_id} published{again}: "
            f"{len(data.shifts)} shifts, {people} people told"
        )
    if isinstance(data, DutyCheckedIn):
        late = ", late" if data.late else ""
        return (
            f"{clock(data.checked_in_at)}  {data.person_id} checked in at "
            f"{data.duty_center_id} by {data.via}{late}"
        )
    return None


class FeedModule:
    """Not a service: a consumer that prints the feed. Owns no tables and no routes."""

    name = "feed"
    migrations_dir = None

    def __init__(self, settings: ServiceSettings, *, colour: bool | None = None) -> None:
        self.settings = settings
        self._colour = sys.stdout.isatty() if colour is None else colour

    def routers(self) -> Sequence[APIRouter]:
        return []

    def topics(self, runtime: Runtime) -> Sequence[TopicSpec]:
        return []

    async def components(self, runtime: Runtime) -> Sequence[Named]:
        async def show(batch: Sequence[Delivery]) -> None:
            for delivery in batch:
                data = delivery.envelope.data
                line = describe(data, runtime.catalog.district.zone)
                if line is None:
                    continue
                level = getattr(getattr(data, "alarm", None), "level", None)
                if self._colour and level is not None:
                    line = f"{_COLOURS.get(str(level), '')}{line}\033[0m"
                sys.stdout.write(line + "\n")
            sys.stdout.flush()

        return [
            consumer(
                runtime,
                group="embedded-feed",
                topics=[ALARMS, WORKORDERS, NOTIFICATIONS, DUTY],
                handler=show,
            )
        ]
