"""Notices about work orders, from their events on rw.workorders: whom each one reaches now
(the assignee, the people on duty at the responsible unit, the supervisors), rendered from the
message templates in each person's language, in the app and by SMS, once per occasion, person
and channel. Callers own the transaction; the decisions are workorders/domain.py's."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import any_, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import Role
from riskwatch.common.catalog import Catalog
from riskwatch.common.events.base import EventPayload
from riskwatch.common.events.duty import DISTRICT_CENTER_ID, sector_center_id
from riskwatch.common.events.workorders import WorkOrderBulletinPublished, WorkOrderSnapshot
from riskwatch.notify.duty import service as duty_service
from riskwatch.notify.duty.domain import Attendance, Routed, with_fallbacks
from riskwatch.notify.duty.models import DutyCenter
from riskwatch.notify.escalation.service import role_holders
from riskwatch.notify.models import principals
from riskwatch.notify.notifications.domain import (
    CHANNELS,
    Addressee,
    Planned,
    Recipient,
    Topic,
    addressees,
    plan_rows,
)
from riskwatch.notify.notifications.notices import notice_row, people_named
from riskwatch.notify.notifications.service import insert_notifications
from riskwatch.notify.notifications.storm import StormCaps
from riskwatch.notify.templates.domain import (
    Rendered,
    TemplateKey,
    Templates,
    UnitCount,
    bulletin_variables,
    locale_of,
    work_order_variables,
)
from riskwatch.notify.templates.service import load_templates
from riskwatch.notify.workorders.domain import (
    Audience,
    NoticePlan,
    bulletin_occasion,
    plan_notice,
    to_me,
)

log = structlog.get_logger(__name__)


def unit_of(order: WorkOrderSnapshot) -> str:
    """The order's responsible unit; an order given none yet is its sector center's."""
    return order.unit_id or sector_center_id(order.sector_id)


async def notify_work_order(
    session: AsyncSession,
    *,
    data: EventPayload,
    catalog: Catalog,
    now: datetime,
    grace: timedelta,
    caps: StormCaps,
    traceparent: str | None = None,
) -> list[str]:
    """The notices a work-order event sends (plan_notice), to whoever they reach now; the ids
    of those created (none for an event that was handled before)."""
    plan = plan_notice(data)
    work_order = getattr(data, "work_order", None)
    if plan is None or not isinstance(work_order, WorkOrderSnapshot):
        return []
    order = work_order
    unit = unit_of(order)
    found: list[Addressee] = []
    for audience in plan.audiences:
        found += await _audience(session, audience, order=order, unit=unit, now=now, grace=grace)
    people = addressees(found, actor=plan.actor, assignee=order.assignee)
    planned = plan_rows(plan.occasion, people, plan.channels)
    if not people:
        log.warning(
            "work_order_notice_reached_nobody",
            work_order_id=order.work_order_id,
            key=plan.key.value,
            unit_id=unit,
        )
        return []
    templates = await load_templates(session)
    center = await session.get(DutyCenter, unit)
    unit_name = center.name if center is not None else unit
    sector = catalog.sector(order.sector_id)
    town = catalog.town(order.town_id) if order.town_id else None
    sector_name = sector.name if sector is not None else order.sector_id
    place = town.name if town is not None else sector_name
    rows = [
        notice_row(
            p,
            topic=Topic.WORK_ORDER,
            topic_fields=_order_fields(order),
            text=_render(
                templates,
                plan,
                p,
                order=order,
                place=place,
                sector=sector_name,
                unit=unit_name,
                catalog=catalog,
            ),
            traceparent=traceparent,
            now=now,
        )
        for p in planned
    ]
    free = [
        r for r, p in zip(rows, planned, strict=True) if p.addressee.audience not in plan.capped
    ]
    held = [r for r, p in zip(rows, planned, strict=True) if p.addressee.audience in plan.capped]
    created = await insert_notifications(session, free, now=now)
    created += await insert_notifications(session, held, now=now, caps=caps)
    log.info(
        "work_order_notified",
        work_order_id=order.work_order_id,
        key=plan.key.value,
        occasion=plan.occasion,
        people=[a.recipient.person_id for a in people],
        created=len(created),
    )
    return created


async def notify_bulletin(
    session: AsyncSession,
    *,
    data: WorkOrderBulletinPublished,
    catalog: Catalog,
    now: datetime,
    traceparent: str | None = None,
) -> list[str]:
    """The weekly overdue bulletin to every department head (enabled accounts holding the
    role, whatever their scope), once per bulletin, person and channel."""
    heads = await people_named(
        session,
        [(DISTRICT_CENTER_ID, username) for username in await _all_holders(session)],
        Audience.ALL_DEPARTMENT_HEADS,
    )
    people = addressees(heads)
    if not people:
        log.warning("bulletin_reached_nobody", bulletin_id=data.bulletin_id)
        return []
    names = {
        c.duty_center_id: c.name
        for c in await session.scalars(
            select(DutyCenter).where(DutyCenter.duty_center_id.in_([u.unit_id for u in data.units]))
        )
    }
    units = [
        UnitCount(names.get(u.unit_id, u.unit_id), u.overdue_open, u.closed_late)
        for u in data.units
    ]
    templates = await load_templates(session)
    tz = catalog.district.zone
    rows: list[dict[str, object]] = []
    for p in plan_rows(bulletin_occasion(data.bulletin_id), people, CHANNELS):
        locale = locale_of(p.addressee.recipient.locale).value
        variables = bulletin_variables(
            week_start=data.week_start, week_end=data.week_end, units=units, tz=tz, locale=locale
        )
        rows.append(
            notice_row(
                p,
                topic=Topic.WORK_ORDER,
                topic_fields={"alarm_id": None, "sector_id": None, "town_id": None, "level": None},
                text=templates.render(TemplateKey.BULLETIN, p.channel, locale, variables),
                traceparent=traceparent,
                now=now,
            )
        )
    created = await insert_notifications(session, rows, now=now)
    log.info(
        "bulletin_notified",
        bulletin_id=data.bulletin_id,
        people=[a.recipient.person_id for a in people],
        created=len(created),
    )
    return created


# -- whom -----------------------------------------------------------------------------------------


async def _audience(
    session: AsyncSession,
    audience: Audience,
    *,
    order: WorkOrderSnapshot,
    unit: str,
    now: datetime,
    grace: timedelta,
) -> list[Addressee]:
    match audience:
        case Audience.ASSIGNEE:
            if order.assignee is None:
                return []
            return await people_named(session, [(unit, order.assignee)], audience)
        case Audience.UNIT_ON_DUTY:
            return await _on_duty(session, unit, audience, now=now, grace=grace)
        case Audience.DISTRICT_ON_DUTY:
            return await _on_duty(session, DISTRICT_CENTER_ID, audience, now=now, grace=grace)
        case Audience.UNIT_LEADER | Audience.DISTRICT_LEADER:
            center_id = unit if audience is Audience.UNIT_LEADER else DISTRICT_CENTER_ID
            center = await session.get(DutyCenter, center_id)
            if center is None or center.leader_id is None:
                return []
            return await people_named(session, [(center_id, center.leader_id)], audience)
        case Audience.DEPARTMENT_HEADS:
            heads = await role_holders(session, Role.DEPARTMENT_HEAD, f"sector:{order.sector_id}")
            center_id = sector_center_id(order.sector_id)
            return await people_named(session, [(center_id, h) for h in heads], audience)
        case Audience.ALL_DEPARTMENT_HEADS:
            heads = await _all_holders(session)
            return await people_named(session, [(DISTRICT_CENTER_ID, h) for h in heads], audience)


async def _on_duty(
    session: AsyncSession, center_id: str, audience: Audience, *, now: datetime, grace: timedelta
) -> list[Addressee]:
    """The people on duty now at the center, and at its fallbacks while it has nobody on duty
    or nobody checked in (following them as alarms do, never looping)."""
    centers = [c.ref() for c in await session.scalars(select(DutyCenter))]
    start = next((c for c in centers if c.duty_center_id == center_id), None)
    if start is None:  # a unit notify does not know: its district center answers for it
        start = next((c for c in centers if c.duty_center_id == DISTRICT_CENTER_ID), None)
    if start is None:
        return []
    staffing = await duty_service.staffing_at(
        session, duty_center_ids=[c.duty_center_id for c in centers], at=now, grace=grace
    )
    uncovered = {
        c: "nobody on duty or checked in"
        for c, s in staffing.items()
        if s.attendance in (Attendance.UNSTAFFED, Attendance.MISSED)
    }
    routed = with_fallbacks([Routed(start, "responsible unit")], centers, uncovered=uncovered)
    return [
        Addressee(
            audience,
            Recipient(r.center.duty_center_id, p.person_id, p.phone, p.email, p.locale),
        )
        for r in routed
        for p in staffing[r.center.duty_center_id].people
    ]


async def _all_holders(session: AsyncSession) -> list[str]:
    t = principals.table
    return list(
        await session.scalars(
            select(t.c.username)
            .where(literal(Role.DEPARTMENT_HEAD.value) == any_(t.c.roles), t.c.disabled.is_(False))
            .order_by(t.c.username)
        )
    )


# -- what ---------------------------------------------------------------------------------------


def _order_fields(order: WorkOrderSnapshot) -> dict[str, object]:
    # No alarm_id: what counts an alarm's notices (reach, the fault suite's counts, SMS
    # replies) reads alarm_id, and these are not an alarm's escalation. The order is named in
    # the idempotency key and the text; its place and level keep org scopes working.
    return {
        "alarm_id": None,
        "sector_id": order.sector_id,
        "town_id": order.town_id,
        "level": order.level.value,
    }


def _render(
    templates: Templates,
    plan: NoticePlan,
    p: Planned,
    *,
    order: WorkOrderSnapshot,
    place: str,
    sector: str,
    unit: str,
    catalog: Catalog,
) -> Rendered:
    locale = locale_of(p.addressee.recipient.locale).value
    variables = work_order_variables(
        work_order_id=order.work_order_id,
        level=order.level.value,
        tier=order.tier,
        assignee=order.assignee,
        place=place,
        sector=sector,
        unit=unit,
        to_me=to_me(order, p.addressee.recipient.person_id),
        action=plan.action,
        stage=plan.stage,
        due=plan.due,
        now=plan.at,
        tz=catalog.district.zone,
        channel=p.channel,
        locale=locale,
    )
    return templates.render(plan.key, p.channel, locale, variables)
