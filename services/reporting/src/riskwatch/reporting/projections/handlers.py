"""The reporting consumer's handler: one event in, one projection upsert, by payload type."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.events import EventPayload
from riskwatch.common.events.alarms import AlarmCleared, AlarmRaised, AlarmUpdated
from riskwatch.common.events.device_status import DeviceStatusChanged
from riskwatch.common.events.duty import DutyCheckedIn, RosterPublished
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.notifications import (
    NotificationAcknowledged,
    NotificationDelivered,
    NotificationDispatched,
    NotificationFailed,
)
from riskwatch.common.events.reading_quality import ReadingQualityCounted
from riskwatch.common.events.workorders import (
    WorkOrderBulletinPublished,
    WorkOrderCreated,
    WorkOrderDeadlineApproaching,
    WorkOrderOverdue,
    WorkOrderStateChanged,
)
from riskwatch.reporting.projections.service import (
    project_alarm,
    project_check_in,
    project_device_status,
    project_notification,
    project_reading_quality,
    project_roster,
    project_work_order,
)

log = structlog.get_logger(__name__)


async def on_event(session: AsyncSession, envelope: Envelope[EventPayload]) -> None:
    match envelope.data:
        case AlarmRaised() | AlarmUpdated() | AlarmCleared() as alarm if (
            alarm.alarm.kind == "technical"
        ):
            # A device offline is no safety alarm: the monthly report's alarms, work orders
            # and reach rates count the safety ones only (its online rate comes from the
            # device-status events).
            log.debug("technical_alarm_not_projected", alarm_id=alarm.alarm.alarm_id)
        case AlarmRaised() | AlarmUpdated() | AlarmCleared() as alarm:
            await project_alarm(session, event=alarm)
        case WorkOrderCreated() | WorkOrderStateChanged() | WorkOrderOverdue() as work_order:
            await project_work_order(session, event=work_order)
        case (
            NotificationDispatched()
            | NotificationDelivered()
            | NotificationFailed()
            | NotificationAcknowledged() as notification
        ):
            await project_notification(session, event=notification)
        case WorkOrderDeadlineApproaching() | WorkOrderBulletinPublished():
            # A reminder changes no state, and the bulletin is computed from states reporting
            # has already: read, and deliberately not projected.
            log.debug("event_not_projected", event_type=envelope.type)
        case RosterPublished() as roster:
            await project_roster(session, event=roster)
        case DutyCheckedIn() as check_in:
            await project_check_in(session, event=check_in)
        case DeviceStatusChanged() as change:
            await project_device_status(session, event=change, event_id=envelope.id)
        case ReadingQualityCounted() as counted:
            await project_reading_quality(session, event=counted)
        case _:
            # A type this projection does not read (yet): consumed and skipped, not an error.
            log.debug("event_not_projected", event_type=envelope.type)
