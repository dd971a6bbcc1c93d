"""Templates against real PostgreSQL: edited texts over the built-in ones (one query), reset, and
the duty notices (a roster's shifts, a missed check-in) written in each person's locale from the
texts in force."""

# ruff: noqa: RUF001  (the expected Chinese texts use full-width punctuation)

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.errors import Invalid
from riskwatch.notify.duty import notices
from riskwatch.notify.duty.models import DutyCenter, Person, Roster, Shift
from riskwatch.notify.duty.service import Publication
from riskwatch.notify.duty.watch import watch_check_ins
from riskwatch.notify.notifications.domain import ChannelKind
from riskwatch.notify.notifications.models import Notification
from riskwatch.notify.templates.domain import DEFAULTS, Locale, TemplateKey
from riskwatch.notify.templates.service import (
    delete_template,
    load_templates,
    put_template,
)

from .. import factories as f

TZ = ZoneInfo("Asia/Shanghai")


async def rows_of(session: AsyncSession, topic: str) -> list[Notification]:
    found = await session.scalars(
        select(Notification)
        .where(Notification.topic == topic)
        .order_by(Notification.person_id, Notification.channel)
    )
    return list(found)


async def test_edited_texts_load_over_the_defaults_and_reset(session: AsyncSession) -> None:
    key, channel = TemplateKey.ALARM, ChannelKind.SMS
    before = await load_templates(session)
    assert before.template(key, channel, "zh-CN") == DEFAULTS[key, channel, Locale.ZH_CN]

    edited = await put_template(
        session,
        key=key,
        channel=channel,
        locale=Locale.ZH_CN,
        body="{level}预警 {alarm_ref}",
        subject=None,
        provider_template_id="SMS_123",
        by="duty.admin",
        now=f.NOW,
    )
    assert (edited.body, edited.provider_template_id, edited.customised) == (
        "{level}预警 {alarm_ref}",
        "SMS_123",
        True,
    )
    # Put again: the row is replaced, not duplicated.
    await put_template(
        session,
        key=key,
        channel=channel,
        locale=Locale.ZH_CN,
        body="{level}预警：{alarm_ref}",
        subject=None,
        provider_template_id=None,
        by="duty.admin",
        now=f.NOW,
    )
    templates = await load_templates(session)
    rendered = templates.render(key, channel, "zh-CN", {"level": "红色", "alarm_ref": "1a2b3c4d"})
    assert (rendered.text, rendered.provider_template_id) == ("红色预警：1a2b3c4d", None)
    # English is untouched.
    assert templates.template(key, channel, "en") == DEFAULTS[key, channel, Locale.EN]

    with pytest.raises(Invalid) as caught:
        await put_template(
            session,
            key=key,
            channel=channel,
            locale=Locale.EN,
            body="{level} {colour} {level.__class__}",
            subject=None,
            provider_template_id=None,
            by="duty.admin",
            now=f.NOW,
        )
    assert caught.value.extensions["unknown_variables"] == ["colour"]
    assert any("attribute" in e for e in caught.value.extensions["errors"])

    reset = await delete_template(session, key=key, channel=channel, locale=Locale.ZH_CN)
    assert reset == DEFAULTS[key, channel, Locale.ZH_CN]
    assert not reset.customised


async def test_a_missed_check_in_is_told_in_the_leaders_locale_from_the_text_in_force(
    session: AsyncSession,
) -> None:
    await f.add_roster(session)
    l3 = await session.get(Shift, "shift-l3")
    l1 = await session.get(Shift, "shift-l1")
    center = await session.get(DutyCenter, "street-lujiazui")
    leader = await session.get(Person, "l2")
    assert l1 is not None
    assert l3 is not None
    assert center is not None
    assert leader is not None
    l1.ends_at = f.NOW
    l3.checked_in_at = l3.checked_in_via = l3.checked_in_late = None
    center.leader_id = "l2"
    center.name = "陆家嘴街道值班中心"
    await session.flush()
    # The SMS text was edited for the provider's approved template; the app's was not.
    await put_template(
        session,
        key=TemplateKey.CHECK_IN,
        channel=ChannelKind.SMS,
        locale=Locale.ZH_CN,
        body="【RiskWatch】{center}{minutes}分钟无人报到",
        subject=None,
        provider_template_id="SMS_900",
        by="duty.admin",
        now=f.NOW,
    )

    late = f.NOW + f.GRACE + timedelta(minutes=1)
    assert await watch_check_ins(session, now=late, grace=f.GRACE, tz=TZ) == 2
    app, sms = [r for r in await rows_of(session, "check_in") if r.person_id == "l2"]
    assert app.message == (
        "陆家嘴街道值班中心：03:00班次开始15分钟后仍无人报到（值班人员：l3），"
        "该中心的告警已同时发往上一级。"
    )
    assert (sms.message, sms.template_id, sms.params, sms.locale) == (
        "【RiskWatch】陆家嘴街道值班中心15分钟无人报到",
        "SMS_900",
        {"center": "陆家嘴街道值班中心", "minutes": "15"},
        "zh-CN",
    )


async def test_roster_notices_are_in_each_persons_locale(session: AsyncSession) -> None:
    await f.add_roster(session)
    center = await session.get(DutyCenter, "street-lujiazui")
    roster = await session.get(Roster, "roster-street-lujiazui")
    l1 = await session.get(Person, "l1")
    l3 = await session.get(Person, "l3")
    assert center is not None
    assert roster is not None
    assert l1 is not None
    assert l3 is not None
    center.name = "Lujiazui duty center"
    l1.locale = "en"
    shifts = list(await session.scalars(select(Shift).where(Shift.roster_id == roster.roster_id)))
    await session.flush()
    publication = Publication(roster=roster, shifts=shifts, people=[l1, l3])
    created = await notices.notify_publication(
        session, publication=publication, center=center, tz=TZ, now=f.NOW
    )
    assert len(created) == 4  # two people, in the app and by SMS
    by = {(r.person_id, r.channel): r for r in await rows_of(session, "roster")}
    english = by["l1", "sms"]
    assert english.locale == "en"
    # l1's shift: 4 h before NOW (03:00 in Shanghai) to 8 h after, local times.
    assert english.message == (
        "[RiskWatch] Roster of Lujiazui duty center published: your shifts 11-01 23:00-11:00."
        " Reply BD at the start of each shift to check in."
    )
    chinese = by["l3", "in_app"]
    assert chinese.locale == "zh-CN"
    assert chinese.message.startswith("Lujiazui duty center排班已发布，您的班次：")
    assert "报到" in chinese.message
    assert chinese.params is not None
    assert chinese.params["center"] == "Lujiazui duty center"
