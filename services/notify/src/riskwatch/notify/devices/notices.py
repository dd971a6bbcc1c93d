"""Notices about devices' liveness, from technical alarms on rw.alarms: the technical staff over
the device (tech_lead and tech_admin accounts whose scope covers it), rendered from the message
templates in each person's language, once per occasion, person and channel. Callers own the
transaction; the decisions are devices/domain.py's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.catalog import Catalog
from riskwatch.common.events.alarms import AlarmCleared, AlarmRaised, AlarmUpdated
from riskwatch.common.events.base import DeviceRef
from riskwatch.common.events.duty import DISTRICT_CENTER_ID
from riskwatch.notify.devices.domain import TECH_ROLES, TECH_STAFF, covers, plan_device_notice
from riskwatch.notify.models import principals
from riskwatch.notify.notifications.domain import Topic, addressees, plan_rows
from riskwatch.notify.notifications.notices import notice_row, people_named
from riskwatch.notify.notifications.service import insert_notifications
from riskwatch.notify.notifications.storm import StormCaps
from riskwatch.notify.templates.domain import device_variables, locale_of
from riskwatch.notify.templates.service import load_templates

log = structlog.get_logger(__name__)


async def notify_device(
    session: AsyncSession,
    *,
    data: AlarmRaised | AlarmUpdated | AlarmCleared,
    catalog: Catalog,
    now: datetime,
    caps: StormCaps,
    traceparent: str | None = None,
) -> list[str]:
    """The notice a technical alarm's event sends (plan_device_notice) to the technical staff
    over its device; the ids of those created (none for an event handled before). An offline
    notice's SMS go through the storm caps."""
    plan = plan_device_notice(data)
    if plan is None:
        return []
    alarm = data.alarm
    device = alarm.device
    # Technical staff belong to no duty center: their notices are the district center's, as
    # the weekly bulletin's are.
    staff = await tech_staff(session, device=device)
    people = addressees(
        await people_named(session, [(DISTRICT_CENTER_ID, u) for u in staff], TECH_STAFF)
    )
    if not people:
        log.warning(
            "device_notice_reached_nobody",
            alarm_id=alarm.alarm_id,
            device_id=device.device_id,
            key=plan.key.value,
        )
        return []
    templates = await load_templates(session)
    place = _place(catalog, device)
    tz = catalog.district.zone
    fields = _device_fields(device)
    rows = []
    for p in plan_rows(plan.occasion, people, plan.channels):
        locale = locale_of(p.addressee.recipient.locale).value
        variables = device_variables(
            alarm, place=place, online_at=plan.online_at, tz=tz, channel=p.channel, locale=locale
        )
        rows.append(
            notice_row(
                p,
                topic=Topic.DEVICE,
                topic_fields=fields,
                text=templates.render(plan.key, p.channel, locale, variables),
                traceparent=traceparent,
                now=now,
            )
        )
    created = await insert_notifications(session, rows, now=now, caps=caps if plan.capped else None)
    log.info(
        "device_notified",
        alarm_id=alarm.alarm_id,
        device_id=device.device_id,
        key=plan.key.value,
        people=[a.recipient.person_id for a in people],
        created=len(created),
    )
    return created


async def tech_staff(session: AsyncSession, *, device: DeviceRef) -> Sequence[str]:
    """Usernames of the enabled accounts holding tech_lead or tech_admin whose scope covers
    the device, sorted. Few accounts hold these roles: their scopes are checked here, by the
    same rule that filters what they read (access.Scope)."""
    t = principals.table
    rows = await session.execute(
        select(t.c.username, t.c.scope)
        .where(t.c.roles.overlap([r.value for r in TECH_ROLES]), t.c.disabled.is_(False))
        .order_by(t.c.username)
    )
    return [username for username, scope in rows.all() if covers(scope, device)]


def _place(catalog: Catalog, device: DeviceRef) -> str:
    """The device's town, or its sector when it has none."""
    town = catalog.town(device.town_id) if device.town_id else None
    if town is not None:
        return town.name
    sector = catalog.sector(device.sector_id)
    return sector.name if sector is not None else device.sector_id


def _device_fields(device: DeviceRef) -> dict[str, object]:
    # No alarm_id and no level: what counts an alarm's notices (reach, the safety counts, SMS
    # replies) reads alarm_id, and a device offline is no graded safety alarm (a digest counts
    # these as "other"). The technical alarm is named in the key and the text; the device's
    # place keeps org scopes working.
    return {
        "alarm_id": None,
        "level": None,
        "sector_id": device.sector_id,
        "town_id": device.town_id,
        "village_id": device.village_id,
    }
