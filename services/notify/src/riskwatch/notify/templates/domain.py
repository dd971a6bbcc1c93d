"""Pure message templates: the locales and template keys, the variables each key knows, the
built-in texts per key, channel and locale, and a renderer for `{name}` placeholders that refuses
anything but a plain variable name. No I/O, no framework imports."""

# Chinese texts use full-width punctuation (comma, colon, brackets) on purpose: their readers
# expect it.
# ruff: noqa: RUF001

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from riskwatch.common.events.alarms import AlarmSnapshot
from riskwatch.common.events.base import DeviceRef, Level
from riskwatch.notify.duty.domain import ShiftSpan
from riskwatch.notify.notifications.domain import ChannelKind, short_alarm_id, sms_length


class Locale(StrEnum):
    """The locales messages are written in; a person's `locale` picks one."""

    ZH_CN = "zh-CN"
    EN = "en"


DEFAULT_LOCALE = Locale.ZH_CN


def locale_of(value: str | None) -> Locale:
    """The locale a person's setting names: "en", "en-US" -> English; anything else (unset,
    unknown, "zh", "zh-cn") -> zh-CN, the default."""
    if value and value.lower().split("-")[0] == "en":
        return Locale.EN
    return DEFAULT_LOCALE


class TemplateKey(StrEnum):
    ALARM = "alarm"
    DIGEST = "digest"  # what a storm cap held back, summed up per recipient and window
    ROSTER = "roster"
    CHECK_IN = "check_in"
    WORK_ORDER = "work_order"  # dispatched, transferred or reopened to a person or a unit
    WORK_ORDER_DUE = "work_order_due"  # a stage's limit is near
    WORK_ORDER_OVERDUE = "work_order_overdue"  # a stage's limit passed
    WORK_ORDER_TIER = "work_order_tier"  # raised to the medium or big loop
    BULLETIN = "bulletin"  # the weekly overdue bulletin
    DEVICE_OFFLINE = "device_offline"  # a device's technical alarm raised: it went offline
    DEVICE_ONLINE = "device_online"  # that alarm cleared: the device reports again


# The keys about one work order share their variables (work_order_variables).
WORK_ORDER_KEYS = frozenset(
    {
        TemplateKey.WORK_ORDER,
        TemplateKey.WORK_ORDER_DUE,
        TemplateKey.WORK_ORDER_OVERDUE,
        TemplateKey.WORK_ORDER_TIER,
    }
)

# The keys about a device's liveness share their variables (device_variables).
DEVICE_KEYS = frozenset({TemplateKey.DEVICE_OFFLINE, TemplateKey.DEVICE_ONLINE})


# -- variables ----------------------------------------------------------------------------------

_WORK_ORDER_VARIABLES: Mapping[str, str] = {
    "order_ref": "the work order's short reference (first 8 characters of its id)",
    "level": "the level, by name (红色 ... / red ...)",
    "place": "the town, or the sector when the order has no town",
    "sector": "the sector's name",
    "unit": "the responsible unit (duty center) by name",
    "to": "whom it went to: 您 / you, or the unit's name",
    "action": "派给 / 转派给 / 重新打开并交给 (dispatched to / transferred to / reopened for)",
    "stage": "the stage whose limit runs (接单, 到场, 销警, 反馈, 办结 / accepting, ...)",
    "due": "that stage's limit, local MM-DD HH:MM",
    "left": "the time left until the limit (25分钟 / 25 min)",
    "tier": "the loop tier (小闭环, 中闭环, 大闭环 / small loop, ...)",
    "assignee": "the person it is dispatched to (未指派 / unassigned)",
}

_DEVICE_VARIABLES: Mapping[str, str] = {
    "device": "the device as one reads it: name (id), or the id alone",
    "device_id": "the device's id",
    "device_name": "the device's name (empty when it has none)",
    "place": "the town, or the sector when the device has no town",
    "offline_at": "when it went offline, local MM-DD HH:MM",
    "online_at": "when it reported again, local MM-DD HH:MM (empty while offline)",
    "down_for": "how long it was offline (2小时5分钟 / 2 h 5 min; empty while offline)",
    "alarm_ref": "its technical alarm's short reference (first 8 characters of its id)",
}

VARIABLES: Mapping[TemplateKey, Mapping[str, str]] = {
    **dict.fromkeys(DEVICE_KEYS, _DEVICE_VARIABLES),
    **dict.fromkeys(
        (
            TemplateKey.WORK_ORDER,
            TemplateKey.WORK_ORDER_DUE,
            TemplateKey.WORK_ORDER_OVERDUE,
            TemplateKey.WORK_ORDER_TIER,
        ),
        _WORK_ORDER_VARIABLES,
    ),
    TemplateKey.BULLETIN: {
        "week": "the week reported, local dates (12-07至12-13 / 12-07 to 12-13)",
        "count": "orders past a limit and still open at the week's end",
        "late": "orders closed in the week after their close limit",
        "unit_count": "how many units the bulletin names",
        "units": "the units with their counts, most overdue first (at most 10)",
        "units_short": "the first three units, and how many more",
        "units_first": "the first unit, and how many more",
    },
    TemplateKey.ALARM: {
        "level": "the level, by name (红色, 橙色, 黄色, 蓝色 / red, orange, yellow, blue)",
        "alarm_ref": "the alarm's short reference (first 8 characters of its id)",
        "rule_id": "the rule that raised it",
        "metric": "what was measured",
        "value": "the reading",
        "device_id": "the device's id",
        "device_name": "the device's name (empty when it has none)",
        "device": "the device as one reads it: name (id), or the id alone",
        "place": "the alarm's place (street, town), empty when unknown",
        "step": "the escalation step that sends it, from 1",
        "ack_hint": "how to acknowledge (签收) on this channel",
    },
    TemplateKey.DIGEST: {
        "count": "how many notices the cap held back in the window",
        "by_level": "the count per alarm level (红色1 黄色189)",
        "since": "the window's start, local HH:MM",
        "until": "the window's end, local HH:MM",
        "first_refs": "the first alarms held back, by short reference",
    },
    TemplateKey.ROSTER: {
        "center": "the duty center's name",
        "published": "发布 / 更新发布 (published / published again)",
        "shifts": "the person's shifts, local times (the first ones, and how many more)",
        "first_shift": "the person's first shift",
        "count": "how many shifts the person has",
        "version": "the roster's publication version",
    },
    TemplateKey.CHECK_IN: {
        "center": "the duty center's name",
        "start": "the shift's start, local HH:MM",
        "minutes": "the grace period in minutes",
        "on_duty": "who is on duty for that shift",
    },
}

_LEVEL_NAMES: Mapping[Locale, Mapping[str, str]] = {
    Locale.ZH_CN: {"red": "红色", "orange": "橙色", "yellow": "黄色", "blue": "蓝色"},
    Locale.EN: {"red": "red", "orange": "orange", "yellow": "yellow", "blue": "blue"},
}
_OTHER = {Locale.ZH_CN: "其他", Locale.EN: "other"}  # notices about no alarm, in a digest


def level_name(level: str | None, locale: Locale) -> str:
    if level is None:
        return _OTHER[locale]
    return _LEVEL_NAMES[locale].get(level, level)


def spell(value: str) -> str:
    """An id as a text-to-speech engine should read it: digits one by one, letters as the words
    they make, separators as pauses ("gas-001" -> "gas 0 0 1", "1a2b" -> "1 a 2 b")."""
    parts = re.findall(r"[0-9]|[^\W\d_]+", value)
    return " ".join(parts)


def ack_hint(alarm_ref: str, channel: ChannelKind, locale: Locale) -> str:
    """How one acknowledges (签收) an alarm received on `channel` (ADR 0018)."""
    zh = locale is Locale.ZH_CN
    if channel is ChannelKind.VOICE:
        return "按1确认签收" if zh else "press 1 to acknowledge"
    if channel is ChannelKind.SMS:
        return f"回复QS {alarm_ref}签收" if zh else f"reply QS {alarm_ref} to acknowledge"
    if channel is ChannelKind.IN_APP:
        return "请在值班应用中签收" if zh else "acknowledge it in the duty app"
    return (
        f"请在值班应用中签收，或短信回复QS {alarm_ref}"
        if zh
        else f"acknowledge it in the duty app, or reply QS {alarm_ref} by SMS"
    )


def alarm_variables(
    alarm: AlarmSnapshot,
    *,
    place: str | None,
    step: int,
    channel: ChannelKind,
    locale: str,
) -> dict[str, str]:
    """The variables of an alarm notice. `step` as the notification row has it (0 the first);
    the variable counts from 1. For a voice call the ids are spelled for the TTS engine."""
    loc = locale_of(locale)
    device = alarm.device
    ref = short_alarm_id(alarm.alarm_id)
    voice = channel is ChannelKind.VOICE
    shown_id = spell(device.device_id) if voice else device.device_id
    return {
        "level": level_name(alarm.level.value, loc),
        "alarm_ref": " ".join(ref) if voice else ref,  # hex: every character read out
        "rule_id": spell(alarm.rule_id) if voice else alarm.rule_id,
        "metric": spell(alarm.metric) if voice else alarm.metric,
        "value": f"{alarm.value:g}",
        "device_id": shown_id,
        "device_name": device.name or "",
        "device": _device(device.name, shown_id, voice=voice, locale=loc),
        "place": place or "",
        "step": str(step + 1),
        "ack_hint": ack_hint(ref, channel, loc),
    }


def _device(name: str | None, device_id: str, *, voice: bool, locale: Locale) -> str:
    if not name:
        return device_id
    if voice:
        return name  # the name is what a listener recognises; the id would be noise
    return f"{name}({device_id})" if locale is Locale.ZH_CN else f"{name} ({device_id})"


def digest_variables(
    *,
    count: int,
    by_level: Mapping[str | None, int],
    since: datetime,
    until: datetime,
    first_refs: Sequence[str],
    tz: ZoneInfo,
    locale: str,
) -> dict[str, str]:
    """The variables of a digest: `by_level` maps a level ("red", ...; None for notices about no
    alarm) to its count, listed from the most serious."""
    loc = locale_of(locale)
    rank = {lv.value: -lv.rank for lv in Level}  # the most serious first, then "other"
    levels = sorted(by_level, key=lambda lv: rank.get(lv or "", 1))
    return {
        "count": str(count),
        "by_level": (
            " ".join(f"{level_name(lv, loc)}{by_level[lv]}" for lv in levels)
            if loc is Locale.ZH_CN
            else ", ".join(f"{level_name(lv, loc)} {by_level[lv]}" for lv in levels)
        ),
        "since": f"{since.astimezone(tz):%H:%M}",
        "until": f"{until.astimezone(tz):%H:%M}",
        "first_refs": ("、" if loc is Locale.ZH_CN else ", ").join(first_refs),
    }


def roster_variables(
    *,
    center: str,
    version: int,
    shifts: Sequence[ShiftSpan],
    tz: ZoneInfo,
    locale: str,
    listed: int,
) -> dict[str, str]:
    """The variables of a roster notice, listing the first `listed` shifts (local times)."""
    loc = locale_of(locale)
    ordered = sorted(shifts, key=lambda s: s.starts_at)
    spans = [
        f"{s.starts_at.astimezone(tz):%m-%d %H:%M}-{s.ends_at.astimezone(tz):%H:%M}"
        for s in ordered
    ]
    shown = spans[: max(listed, 1)]
    more = len(spans) - len(shown)
    zh = loc is Locale.ZH_CN
    text = ("、" if zh else ", ").join(shown)
    if more > 0:
        text += f"等共{len(spans)}班" if zh else f" and {more} more"
    again = version > 1
    return {
        "center": center,
        "published": ("更新发布" if again else "发布")
        if zh
        else ("published again" if again else "published"),
        "shifts": text,
        "first_shift": spans[0] if spans else "",
        "count": str(len(spans)),
        "version": str(version),
    }


def check_in_variables(
    *, center: str, start: datetime, grace: timedelta, on_duty: str, tz: ZoneInfo
) -> dict[str, str]:
    return {
        "center": center,
        "start": f"{start.astimezone(tz):%H:%M}",
        "minutes": str(int(grace.total_seconds() // 60)),
        "on_duty": on_duty,
    }


_STAGE_NAMES: Mapping[Locale, Mapping[str, str]] = {
    Locale.ZH_CN: {
        "accept": "接单",
        "on_site": "到场",
        "clear": "销警",
        "feedback": "反馈",
        "close": "办结",
    },
    Locale.EN: {
        "accept": "accepting",
        "on_site": "arrival on site",
        "clear": "clearing",
        "feedback": "feedback",
        "close": "closing",
    },
}
_TIER_NAMES: Mapping[Locale, Mapping[str, str]] = {
    Locale.ZH_CN: {"small": "小闭环", "medium": "中闭环", "big": "大闭环"},
    Locale.EN: {"small": "small loop", "medium": "medium loop", "big": "big loop"},
}
_ACTIONS: Mapping[Locale, Mapping[str, str]] = {
    Locale.ZH_CN: {"dispatch": "派给", "transfer": "转派给", "reopen": "重新打开并交给"},
    Locale.EN: {
        "dispatch": "dispatched to",
        "transfer": "transferred to",
        "reopen": "reopened for",
    },
}


def _minutes(delta: timedelta, locale: Locale) -> str:
    minutes = max(0, math.ceil(delta.total_seconds() / 60))
    if minutes >= 120:
        hours, rest = divmod(minutes, 60)
        if locale is Locale.ZH_CN:
            return f"{hours}小时{rest}分钟" if rest else f"{hours}小时"
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{minutes}分钟" if locale is Locale.ZH_CN else f"{minutes} min"


def work_order_variables(
    *,
    work_order_id: str,
    level: str,
    tier: str,
    assignee: str | None,
    place: str,
    sector: str,
    unit: str,
    to_me: bool,
    action: str | None,
    stage: str | None,
    due: datetime | None,
    now: datetime,
    tz: ZoneInfo,
    channel: ChannelKind,
    locale: str,
) -> dict[str, str]:
    """The variables of a notice about one work order. `to_me`: the recipient is its assignee
    (`to` reads "you"), else `to` is the unit. `action`: dispatch, transfer or reopen."""
    loc = locale_of(locale)
    zh = loc is Locale.ZH_CN
    ref = work_order_id[:8]
    voice = channel is ChannelKind.VOICE
    return {
        "order_ref": " ".join(ref) if voice else ref,
        "level": level_name(level, loc),
        "place": place,
        "sector": sector,
        "unit": unit,
        "to": ("您" if zh else "you") if to_me else unit,
        "action": _ACTIONS[loc].get(action or "dispatch", _ACTIONS[loc]["dispatch"]),
        "stage": _STAGE_NAMES[loc].get(stage or "", stage or ""),
        "due": f"{due.astimezone(tz):%m-%d %H:%M}" if due is not None else "",
        "left": _minutes(due - now, loc) if due is not None else "",
        "tier": _TIER_NAMES[loc].get(tier, tier),
        "assignee": assignee or ("未指派" if zh else "unassigned"),
    }


def device_variables(
    alarm: AlarmSnapshot,
    *,
    place: str | None,
    online_at: datetime | None,
    tz: ZoneInfo,
    channel: ChannelKind,
    locale: str,
) -> dict[str, str]:
    """The variables of a notice about a device's liveness, from its technical alarm (raised
    when the device went offline); `online_at` when it reported again (the alarm cleared).
    For a voice call the ids are spelled for the TTS engine."""
    loc = locale_of(locale)
    device = alarm.device
    ref = short_alarm_id(alarm.alarm_id)
    voice = channel is ChannelKind.VOICE
    shown_id = spell(device.device_id) if voice else device.device_id
    return {
        "device": _device(device.name, shown_id, voice=voice, locale=loc),
        "device_id": shown_id,
        "device_name": device.name or "",
        "place": place or "",
        "offline_at": f"{alarm.raised_at.astimezone(tz):%m-%d %H:%M}",
        "online_at": f"{online_at.astimezone(tz):%m-%d %H:%M}" if online_at is not None else "",
        "down_for": _minutes(online_at - alarm.raised_at, loc) if online_at is not None else "",
        "alarm_ref": " ".join(ref) if voice else ref,
    }


@dataclass(frozen=True, slots=True)
class UnitCount:
    """One unit of an overdue bulletin: its name, orders overdue and open, orders closed late."""

    name: str
    overdue_open: int
    closed_late: int


BULLETIN_UNITS_LISTED = 10
BULLETIN_UNITS_SHORT = 3


def bulletin_variables(
    *,
    week_start: datetime,
    week_end: datetime,
    units: Sequence[UnitCount],
    tz: ZoneInfo,
    locale: str,
) -> dict[str, str]:
    """The variables of the weekly overdue bulletin; units listed most overdue first."""
    loc = locale_of(locale)
    zh = loc is Locale.ZH_CN
    ordered = sorted(units, key=lambda u: (-u.overdue_open, -u.closed_late, u.name))

    def one(u: UnitCount) -> str:
        if zh:
            return f"{u.name}未结{u.overdue_open}迟结{u.closed_late}"
        return f"{u.name} {u.overdue_open} open, {u.closed_late} late"

    def listed(n: int) -> str:
        shown = [one(u) for u in ordered[:n]]
        more = len(ordered) - len(shown)
        text = ("、" if zh else "; ").join(shown)
        if more > 0:
            text += f"等{len(ordered)}个单位" if zh else f" and {more} more"
        return text

    # The week is [start, end): its last day is the one before `week_end`.
    last = week_end - timedelta(microseconds=1)
    return {
        "week": (
            f"{week_start.astimezone(tz):%m-%d}至{last.astimezone(tz):%m-%d}"
            if zh
            else f"{week_start.astimezone(tz):%m-%d} to {last.astimezone(tz):%m-%d}"
        ),
        "count": str(sum(u.overdue_open for u in units)),
        "late": str(sum(u.closed_late for u in units)),
        "unit_count": str(len(units)),
        "units": listed(BULLETIN_UNITS_LISTED),
        "units_short": listed(BULLETIN_UNITS_SHORT),
        "units_first": listed(1),
    }


# -- built-in texts ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Template:
    """A template's texts; `updated_at` and `updated_by` are set on one edited over the API."""

    body: str
    subject: str | None = None  # e-mail only
    provider_template_id: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None

    @property
    def customised(self) -> bool:
        return self.updated_at is not None


# Short names for the table below.
_Z, _E = Locale.ZH_CN, Locale.EN
_A, _D, _R, _C = TemplateKey.ALARM, TemplateKey.DIGEST, TemplateKey.ROSTER, TemplateKey.CHECK_IN
_OFF, _ON = TemplateKey.DEVICE_OFFLINE, TemplateKey.DEVICE_ONLINE
_WO, _DUE, _OVER, _TIER, _BUL = (
    TemplateKey.WORK_ORDER,
    TemplateKey.WORK_ORDER_DUE,
    TemplateKey.WORK_ORDER_OVERDUE,
    TemplateKey.WORK_ORDER_TIER,
    TemplateKey.BULLETIN,
)
_APP, _SMS, _VOICE, _HOOK, _MAIL = (
    ChannelKind.IN_APP,
    ChannelKind.SMS,
    ChannelKind.VOICE,
    ChannelKind.WEBHOOK,
    ChannelKind.EMAIL,
)

_ZH_SIGNATURE = "\n\n—— RiskWatch 城市安全风险监测预警平台"
_EN_SIGNATURE = "\n\n-- RiskWatch, city safety risk monitoring"

DEFAULTS: Mapping[tuple[TemplateKey, ChannelKind, Locale], Template] = {
    # -- alarm: the empty `place` leaves a double space only, which rendering tidies away.
    (_A, _APP, _Z): Template(
        "{level}预警：{place} {device} {metric} {value}，规则{rule_id}。"
        "告警{alarm_ref}，{ack_hint}。"
    ),
    (_A, _SMS, _Z): Template(
        "【RiskWatch】{level}预警：{place} {device} {metric} {value}，规则{rule_id}。"
        "告警{alarm_ref}，{ack_hint}。"
    ),
    (_A, _VOICE, _Z): Template(
        "RiskWatch{level}预警。{place}{device}，{metric}读数{value}。告警编号{alarm_ref}。"
        "按1确认签收"
    ),
    (_A, _HOOK, _Z): Template(
        "【RiskWatch】{level}预警\n地点：{place}\n设备：{device}\n读数：{metric} {value}"
        "（规则{rule_id}）\n告警：{alarm_ref}（第{step}步通知）\n签收：{ack_hint}"
    ),
    (_A, _MAIL, _Z): Template(
        "{level}预警\n\n地点：{place}\n设备：{device}\n读数：{metric} = {value}\n规则：{rule_id}\n"
        "告警编号：{alarm_ref}\n升级步骤：第{step}步\n\n{ack_hint}。" + _ZH_SIGNATURE,
        subject="【RiskWatch】{level}预警：{place} {device}",
    ),
    (_A, _APP, _E): Template(
        "Alarm ({level}): {place} {device} {metric} {value}, rule {rule_id}. "
        "Alarm {alarm_ref}: {ack_hint}."
    ),
    (_A, _SMS, _E): Template(
        "[RiskWatch] {level} alarm: {place} {device} {metric} {value}, rule {rule_id}. "
        "Alarm {alarm_ref}: {ack_hint}."
    ),
    (_A, _VOICE, _E): Template(
        "RiskWatch {level} alarm. {place} {device}, {metric} reading {value}. "
        "Alarm number {alarm_ref}. Please press 1 to acknowledge"
    ),
    (_A, _HOOK, _E): Template(
        "[RiskWatch] {level} alarm\nPlace: {place}\nDevice: {device}\nReading: {metric} {value}"
        " (rule {rule_id})\nAlarm: {alarm_ref} (step {step})\nAcknowledge: {ack_hint}"
    ),
    (_A, _MAIL, _E): Template(
        "A {level} alarm was raised.\n\nPlace: {place}\nDevice: {device}\n"
        "Reading: {metric} = {value}\nRule: {rule_id}\n"
        "Alarm: {alarm_ref}\nEscalation step: {step}\n\n"
        "Please {ack_hint}." + _EN_SIGNATURE,
        subject="[RiskWatch] {level} alarm: {place} {device}",
    ),
    # -- digest
    (_D, _APP, _Z): Template(
        "{since}-{until}另有{count}条通知因发送上限未逐条发送（{by_level}），如告警{first_refs}。"
    ),
    (_D, _SMS, _Z): Template(
        "【RiskWatch】{since}-{until}另有{count}条通知因发送上限未逐条发送（{by_level}），"
        "如告警{first_refs}，请在值班应用中查看。"
    ),
    (_D, _VOICE, _Z): Template(
        "RiskWatch提醒。{since}到{until}另有{count}条通知未逐条电话提醒，其中{by_level}。"
        "请在值班应用中查看。按1确认签收"
    ),
    (_D, _HOOK, _Z): Template(
        "【RiskWatch】{since}-{until}另有{count}条通知因发送上限未逐条发送\n分级：{by_level}\n"
        "告警：{first_refs}等"
    ),
    (_D, _MAIL, _Z): Template(
        "{since}-{until}另有{count}条通知因发送上限未逐条发送。\n\n分级：{by_level}\n"
        "告警：{first_refs}等\n\n请在值班应用中查看并签收。" + _ZH_SIGNATURE,
        subject="【RiskWatch】{since}-{until}另有{count}条通知未逐条发送",
    ),
    (_D, _APP, _E): Template(
        "{count} more notices {since}-{until} were held back by the sending cap ({by_level}),"
        " e.g. alarms {first_refs}."
    ),
    (_D, _SMS, _E): Template(
        "[RiskWatch] {count} more notices {since}-{until} held back by the sending cap"
        " ({by_level}), e.g. alarms {first_refs}. See the duty app."
    ),
    (_D, _VOICE, _E): Template(
        "RiskWatch reminder. {count} more notices from {since} to {until} were not called one"
        " by one: {by_level}. See the duty app. Please press 1 to acknowledge"
    ),
    (_D, _HOOK, _E): Template(
        "[RiskWatch] {count} more notices {since}-{until} held back by the sending cap\n"
        "By level: {by_level}\nFirst alarms: {first_refs}"
    ),
    (_D, _MAIL, _E): Template(
        "{count} more notices {since}-{until} were held back by the sending cap.\n\n"
        "By level: {by_level}\nFirst alarms: {first_refs}\n\n"
        "Please see and acknowledge them in the duty app." + _EN_SIGNATURE,
        subject="[RiskWatch] {count} more notices {since}-{until}",
    ),
    # -- roster
    (_R, _APP, _Z): Template(
        "{center}排班已{published}，您的班次：{shifts}。每班开始时请回复“报到”（BD）签到。"
    ),
    (_R, _SMS, _Z): Template(
        "【RiskWatch】{center}排班已{published}，您的班次：{shifts}。"
        "每班开始时请回复“报到”（BD）签到。"
    ),
    (_R, _VOICE, _Z): Template(
        "RiskWatch提醒。{center}排班已{published}，您共有{count}个班次，第一个班次{first_shift}。"
        "详情请在值班应用中查看。按1确认签收"
    ),
    (_R, _HOOK, _Z): Template("【RiskWatch】{center}排班已{published}\n班次：{shifts}"),
    (_R, _MAIL, _Z): Template(
        "{center}排班已{published}（第{version}版）。\n\n您的班次（共{count}个）：{shifts}\n\n"
        "每班开始时请回复“报到”（BD）或在值班应用中签到。" + _ZH_SIGNATURE,
        subject="【RiskWatch】{center}排班已{published}",
    ),
    (_R, _APP, _E): Template(
        "Roster of {center} {published}: your shifts {shifts}."
        " Reply 报到 (BD) at the start of each shift to check in."
    ),
    (_R, _SMS, _E): Template(
        "[RiskWatch] Roster of {center} {published}: your shifts {shifts}."
        " Reply BD at the start of each shift to check in."
    ),
    (_R, _VOICE, _E): Template(
        "RiskWatch reminder. The roster of {center} was {published}. You have {count} shifts,"
        " the first {first_shift}. See the duty app. Please press 1 to acknowledge"
    ),
    (_R, _HOOK, _E): Template("[RiskWatch] Roster of {center} {published}\nShifts: {shifts}"),
    (_R, _MAIL, _E): Template(
        "The roster of {center} was {published} (version {version}).\n\n"
        "Your shifts ({count}): {shifts}\n\n"
        "Reply 报到 (BD) or check in in the duty app at the start of each shift." + _EN_SIGNATURE,
        subject="[RiskWatch] Roster of {center} {published}",
    ),
    # -- check-in
    (_C, _APP, _Z): Template(
        "{center}：{start}班次开始{minutes}分钟后仍无人报到（值班人员：{on_duty}），"
        "该中心的告警已同时发往上一级。"
    ),
    (_C, _SMS, _Z): Template(
        "【RiskWatch】{center}：{start}班次开始{minutes}分钟后仍无人报到（值班人员：{on_duty}），"
        "该中心的告警已同时发往上一级。"
    ),
    (_C, _VOICE, _Z): Template(
        "RiskWatch提醒。{center}，{start}班次开始{minutes}分钟后仍无人报到，"
        "该中心的告警已同时发往上一级。按1确认签收"
    ),
    (_C, _HOOK, _Z): Template(
        "【RiskWatch】{center}无人报到\n{start}班次开始{minutes}分钟后仍无人报到"
        "（值班人员：{on_duty}），告警已同时发往上一级。"
    ),
    (_C, _MAIL, _Z): Template(
        "{center}：{start}班次开始{minutes}分钟后仍无人报到（值班人员：{on_duty}）。\n\n"
        "在有人报到之前，该中心的告警同时发往上一级。" + _ZH_SIGNATURE,
        subject="【RiskWatch】{center}无人报到",
    ),
    (_C, _APP, _E): Template(
        "Nobody at {center} has checked in {minutes} min after the {start} shift start"
        " ({on_duty} is on duty). Its alarms now also go to the next level up."
    ),
    (_C, _SMS, _E): Template(
        "[RiskWatch] Nobody at {center} has checked in {minutes} min after the {start} shift"
        " start ({on_duty} is on duty). Its alarms now also go to the next level up."
    ),
    (_C, _VOICE, _E): Template(
        "RiskWatch reminder. Nobody at {center} has checked in {minutes} minutes after the"
        " {start} shift start. Its alarms now also go to the next level up."
        " Please press 1 to acknowledge"
    ),
    (_C, _HOOK, _E): Template(
        "[RiskWatch] Nobody at {center} has checked in\n{minutes} min after the {start} shift"
        " start ({on_duty} is on duty); its alarms now also go to the next level up."
    ),
    (_C, _MAIL, _E): Template(
        "Nobody at {center} has checked in {minutes} min after the {start} shift start"
        " ({on_duty} is on duty).\n\nUntil someone does, its alarms also go to the next level"
        " up." + _EN_SIGNATURE,
        subject="[RiskWatch] Nobody at {center} has checked in",
    ),
    # -- work order: dispatched, transferred or reopened
    (_WO, _APP, _Z): Template(
        "工单{order_ref}（{level}，{tier}）已{action}{to}：{place}，责任单位{unit}，"
        "{stage}时限{due}。请在值班应用中接单处置。"
    ),
    (_WO, _SMS, _Z): Template(
        "【RiskWatch】工单{order_ref}（{level}）已{action}{to}：{place}，{stage}时限{due}。"
        "请在值班应用中接单处置。"
    ),
    (_WO, _VOICE, _Z): Template(
        "RiskWatch提醒。{level}工单{order_ref}已{action}{to}，地点{place}，{stage}时限{due}。"
        "请在值班应用中接单处置。按1确认签收"
    ),
    (_WO, _HOOK, _Z): Template(
        "【RiskWatch】工单已{action}{to}\n工单：{order_ref}（{level}，{tier}）\n地点：{place}\n"
        "责任单位：{unit}\n时限：{stage} {due}"
    ),
    (_WO, _MAIL, _Z): Template(
        "工单{order_ref}（{level}，{tier}）已{action}{to}。\n\n地点：{place}\n责任单位：{unit}\n"
        "{stage}时限：{due}\n\n请在值班应用中接单处置。" + _ZH_SIGNATURE,
        subject="【RiskWatch】工单{order_ref}已{action}{to}",
    ),
    (_WO, _APP, _E): Template(
        "Work order {order_ref} ({level}, {tier}) {action} {to}: {place}, unit {unit},"
        " {stage} due {due}. Accept it in the duty app."
    ),
    (_WO, _SMS, _E): Template(
        "[RiskWatch] Work order {order_ref} ({level}) {action} {to}: {place}, {stage} due {due}."
        " Accept it in the duty app."
    ),
    (_WO, _VOICE, _E): Template(
        "RiskWatch reminder. {level} work order {order_ref} {action} {to}, at {place},"
        " {stage} due {due}. Accept it in the duty app. Please press 1 to acknowledge"
    ),
    (_WO, _HOOK, _E): Template(
        "[RiskWatch] Work order {action} {to}\nOrder: {order_ref} ({level}, {tier})\n"
        "Place: {place}\nUnit: {unit}\nDue: {stage} by {due}"
    ),
    (_WO, _MAIL, _E): Template(
        "Work order {order_ref} ({level}, {tier}) was {action} {to}.\n\nPlace: {place}\n"
        "Unit: {unit}\n{stage} due: {due}\n\nPlease accept it in the duty app." + _EN_SIGNATURE,
        subject="[RiskWatch] Work order {order_ref} {action} {to}",
    ),
    # -- work order: a stage's limit is near
    (_DUE, _APP, _Z): Template(
        "工单{order_ref}（{level}）{stage}时限将至：须在{due}前完成，还剩{left}。"
        "地点{place}，责任单位{unit}，处置人{assignee}。"
    ),
    (_DUE, _SMS, _Z): Template(
        "【RiskWatch】工单{order_ref}（{level}）{stage}时限将至：须在{due}前完成，还剩{left}。"
        "地点{place}，处置人{assignee}。"
    ),
    (_DUE, _VOICE, _Z): Template(
        "RiskWatch提醒。工单{order_ref}{stage}时限将至，须在{due}前完成，还剩{left}。"
        "地点{place}。按1确认签收"
    ),
    (_DUE, _HOOK, _Z): Template(
        "【RiskWatch】工单{stage}时限将至\n工单：{order_ref}（{level}）\n时限：{due}（还剩{left}）\n"
        "地点：{place}\n责任单位：{unit}\n处置人：{assignee}"
    ),
    (_DUE, _MAIL, _Z): Template(
        "工单{order_ref}（{level}）{stage}时限将至：须在{due}前完成，还剩{left}。\n\n"
        "地点：{place}\n责任单位：{unit}\n处置人：{assignee}" + _ZH_SIGNATURE,
        subject="【RiskWatch】工单{order_ref}{stage}时限将至",
    ),
    (_DUE, _APP, _E): Template(
        "Work order {order_ref} ({level}): {stage} due at {due}, {left} left. {place},"
        " unit {unit}, handler {assignee}."
    ),
    (_DUE, _SMS, _E): Template(
        "[RiskWatch] Work order {order_ref} ({level}): {stage} due at {due}, {left} left."
        " {place}, handler {assignee}."
    ),
    (_DUE, _VOICE, _E): Template(
        "RiskWatch reminder. Work order {order_ref}: {stage} is due at {due}, {left} left,"
        " at {place}. Please press 1 to acknowledge"
    ),
    (_DUE, _HOOK, _E): Template(
        "[RiskWatch] Work order {stage} due soon\nOrder: {order_ref} ({level})\n"
        "Due: {due} ({left} left)\nPlace: {place}\nUnit: {unit}\nHandler: {assignee}"
    ),
    (_DUE, _MAIL, _E): Template(
        "Work order {order_ref} ({level}): {stage} is due at {due}, {left} left.\n\n"
        "Place: {place}\nUnit: {unit}\nHandler: {assignee}" + _EN_SIGNATURE,
        subject="[RiskWatch] Work order {order_ref}: {stage} due at {due}",
    ),
    # -- work order: a stage's limit passed
    (_OVER, _APP, _Z): Template(
        "工单{order_ref}（{level}）{stage}已超时（时限{due}）。地点{place}，责任单位{unit}，"
        "处置人{assignee}。请立即处置。"
    ),
    (_OVER, _SMS, _Z): Template(
        "【RiskWatch】工单{order_ref}（{level}）{stage}已超时（时限{due}）。地点{place}，"
        "责任单位{unit}，处置人{assignee}。请立即处置。"
    ),
    (_OVER, _VOICE, _Z): Template(
        "RiskWatch提醒。工单{order_ref}{stage}已超时，时限{due}，地点{place}，"
        "责任单位{unit}。请立即处置。按1确认签收"
    ),
    (_OVER, _HOOK, _Z): Template(
        "【RiskWatch】工单{stage}超时\n工单：{order_ref}（{level}）\n时限：{due}\n地点：{place}\n"
        "责任单位：{unit}\n处置人：{assignee}"
    ),
    (_OVER, _MAIL, _Z): Template(
        "工单{order_ref}（{level}）{stage}已超时（时限{due}）。\n\n地点：{place}\n"
        "责任单位：{unit}\n处置人：{assignee}\n\n请立即处置。" + _ZH_SIGNATURE,
        subject="【RiskWatch】工单{order_ref}{stage}已超时",
    ),
    (_OVER, _APP, _E): Template(
        "Work order {order_ref} ({level}) is overdue for {stage} (due {due}). {place},"
        " unit {unit}, handler {assignee}. Act now."
    ),
    (_OVER, _SMS, _E): Template(
        "[RiskWatch] Work order {order_ref} ({level}) is overdue for {stage} (due {due})."
        " {place}, unit {unit}, handler {assignee}. Act now."
    ),
    (_OVER, _VOICE, _E): Template(
        "RiskWatch reminder. Work order {order_ref} is overdue for {stage}, due {due}, at"
        " {place}, unit {unit}. Please act now. Please press 1 to acknowledge"
    ),
    (_OVER, _HOOK, _E): Template(
        "[RiskWatch] Work order overdue for {stage}\nOrder: {order_ref} ({level})\nDue: {due}\n"
        "Place: {place}\nUnit: {unit}\nHandler: {assignee}"
    ),
    (_OVER, _MAIL, _E): Template(
        "Work order {order_ref} ({level}) is overdue for {stage} (due {due}).\n\n"
        "Place: {place}\nUnit: {unit}\nHandler: {assignee}\n\nPlease act now." + _EN_SIGNATURE,
        subject="[RiskWatch] Work order {order_ref} overdue for {stage}",
    ),
    # -- work order: raised to a higher loop tier
    (_TIER, _APP, _Z): Template(
        "工单{order_ref}（{level}）已升级为{tier}：{place}，责任单位{unit}，处置人{assignee}，"
        "{stage}时限{due}。请协调处置。"
    ),
    (_TIER, _SMS, _Z): Template(
        "【RiskWatch】工单{order_ref}（{level}）已升级为{tier}：{place}，责任单位{unit}，"
        "{stage}时限{due}。请协调处置。"
    ),
    (_TIER, _VOICE, _Z): Template(
        "RiskWatch提醒。{level}工单{order_ref}已升级为{tier}，地点{place}，责任单位{unit}。"
        "请协调处置。按1确认签收"
    ),
    (_TIER, _HOOK, _Z): Template(
        "【RiskWatch】工单升级为{tier}\n工单：{order_ref}（{level}）\n地点：{place}\n"
        "责任单位：{unit}\n处置人：{assignee}\n时限：{stage} {due}"
    ),
    (_TIER, _MAIL, _Z): Template(
        "工单{order_ref}（{level}）已升级为{tier}。\n\n地点：{place}\n责任单位：{unit}\n"
        "处置人：{assignee}\n{stage}时限：{due}\n\n请协调处置。" + _ZH_SIGNATURE,
        subject="【RiskWatch】工单{order_ref}已升级为{tier}",
    ),
    (_TIER, _APP, _E): Template(
        "Work order {order_ref} ({level}) raised to the {tier}: {place}, unit {unit},"
        " handler {assignee}, {stage} due {due}. Please coordinate."
    ),
    (_TIER, _SMS, _E): Template(
        "[RiskWatch] Work order {order_ref} ({level}) raised to the {tier}: {place},"
        " unit {unit}, {stage} due {due}. Please coordinate."
    ),
    (_TIER, _VOICE, _E): Template(
        "RiskWatch reminder. {level} work order {order_ref} was raised to the {tier}, at"
        " {place}, unit {unit}. Please coordinate. Please press 1 to acknowledge"
    ),
    (_TIER, _HOOK, _E): Template(
        "[RiskWatch] Work order raised to the {tier}\nOrder: {order_ref} ({level})\n"
        "Place: {place}\nUnit: {unit}\nHandler: {assignee}\nDue: {stage} by {due}"
    ),
    (_TIER, _MAIL, _E): Template(
        "Work order {order_ref} ({level}) was raised to the {tier}.\n\nPlace: {place}\n"
        "Unit: {unit}\nHandler: {assignee}\n{stage} due: {due}\n\nPlease coordinate."
        + _EN_SIGNATURE,
        subject="[RiskWatch] Work order {order_ref} raised to the {tier}",
    ),
    # -- the weekly overdue bulletin
    (_BUL, _APP, _Z): Template(
        "超时处置通报（{week}）：超时未结{count}件，超时办结{late}件，涉及{unit_count}个单位：{units}。"
    ),
    (_BUL, _SMS, _Z): Template(
        "【RiskWatch】超时处置通报（{week}）：超时未结{count}件，超时办结{late}件：{units}。"
        "详见值班应用。"
    ),
    (_BUL, _VOICE, _Z): Template(
        "RiskWatch提醒。{week}超时处置通报：超时未结{count}件，超时办结{late}件，"
        "涉及{unit_count}个单位。详情请在值班应用中查看。按1确认签收"
    ),
    (_BUL, _HOOK, _Z): Template(
        "【RiskWatch】超时处置通报（{week}）\n超时未结：{count}件\n超时办结：{late}件\n"
        "单位：{units}"
    ),
    (_BUL, _MAIL, _Z): Template(
        "超时处置通报（{week}）\n\n超时未结：{count}件\n超时办结：{late}件\n"
        "涉及{unit_count}个单位：{units}" + _ZH_SIGNATURE,
        subject="【RiskWatch】超时处置通报（{week}）",
    ),
    (_BUL, _APP, _E): Template(
        "Overdue bulletin ({week}): {count} orders overdue and open, {late} closed late,"
        " {unit_count} units: {units}."
    ),
    (_BUL, _SMS, _E): Template(
        "[RiskWatch] Overdue bulletin ({week}): {count} overdue and open, {late} closed late:"
        " {units}. See the duty app."
    ),
    (_BUL, _VOICE, _E): Template(
        "RiskWatch reminder. Overdue bulletin for {week}: {count} orders overdue and open,"
        " {late} closed late, in {unit_count} units. See the duty app."
        " Please press 1 to acknowledge"
    ),
    (_BUL, _HOOK, _E): Template(
        "[RiskWatch] Overdue bulletin ({week})\nOverdue and open: {count}\n"
        "Closed late: {late}\nUnits: {units}"
    ),
    (_BUL, _MAIL, _E): Template(
        "Overdue bulletin ({week})\n\nOverdue and open: {count}\nClosed late: {late}\n"
        "{unit_count} units: {units}" + _EN_SIGNATURE,
        subject="[RiskWatch] Overdue bulletin ({week})",
    ),
    # -- a device offline (its technical alarm raised), to the technical staff over it
    (_OFF, _APP, _Z): Template(
        "设备离线：{place} {device}自{offline_at}起未上报数据（技术告警{alarm_ref}）。"
        "请检查设备、网关及通信链路。"
    ),
    (_OFF, _SMS, _Z): Template(
        "【RiskWatch】设备离线：{place} {device}自{offline_at}起未上报数据"
        "（技术告警{alarm_ref}）。请检查设备及通信链路。"
    ),
    (_OFF, _VOICE, _Z): Template(
        "RiskWatch提醒。{place}{device}自{offline_at}起离线，请检查设备及通信链路。按1确认签收"
    ),
    (_OFF, _HOOK, _Z): Template(
        "【RiskWatch】设备离线\n地点：{place}\n设备：{device}\n离线时间：{offline_at}\n"
        "技术告警：{alarm_ref}"
    ),
    (_OFF, _MAIL, _Z): Template(
        "设备{device}自{offline_at}起未上报数据，已判定离线。\n\n地点：{place}\n"
        "技术告警编号：{alarm_ref}\n\n请检查设备、网关及通信链路。" + _ZH_SIGNATURE,
        subject="【RiskWatch】设备离线：{place} {device}",
    ),
    (_OFF, _APP, _E): Template(
        "Device offline: {place} {device} has sent nothing since {offline_at}"
        " (technical alarm {alarm_ref}). Check the device, its gateway and the link."
    ),
    (_OFF, _SMS, _E): Template(
        "[RiskWatch] Device offline: {place} {device} has sent nothing since {offline_at}"
        " (technical alarm {alarm_ref}). Check the device and the link."
    ),
    (_OFF, _VOICE, _E): Template(
        "RiskWatch reminder. {place} {device} has been offline since {offline_at}."
        " Please check the device and the link. Please press 1 to acknowledge"
    ),
    (_OFF, _HOOK, _E): Template(
        "[RiskWatch] Device offline\nPlace: {place}\nDevice: {device}\n"
        "Offline since: {offline_at}\nTechnical alarm: {alarm_ref}"
    ),
    (_OFF, _MAIL, _E): Template(
        "{device} has sent nothing since {offline_at} and is offline.\n\nPlace: {place}\n"
        "Technical alarm: {alarm_ref}\n\nPlease check the device, its gateway and the link."
        + _EN_SIGNATURE,
        subject="[RiskWatch] Device offline: {place} {device}",
    ),
    # -- the device back online (its technical alarm cleared): in the app only
    (_ON, _APP, _Z): Template(
        "设备恢复在线：{place} {device}于{online_at}恢复上报，离线{down_for}"
        "（技术告警{alarm_ref}已解除）。"
    ),
    (_ON, _SMS, _Z): Template(
        "【RiskWatch】设备恢复在线：{place} {device}于{online_at}恢复上报，离线{down_for}"
        "（技术告警{alarm_ref}已解除）。"
    ),
    (_ON, _VOICE, _Z): Template(
        "RiskWatch提醒。{place}{device}于{online_at}恢复在线，离线{down_for}。按1确认签收"
    ),
    (_ON, _HOOK, _Z): Template(
        "【RiskWatch】设备恢复在线\n地点：{place}\n设备：{device}\n恢复时间：{online_at}\n"
        "离线时长：{down_for}\n技术告警：{alarm_ref}（已解除）"
    ),
    (_ON, _MAIL, _Z): Template(
        "设备{device}于{online_at}恢复上报，离线{down_for}，技术告警{alarm_ref}已解除。\n\n"
        "地点：{place}\n离线时间：{offline_at}" + _ZH_SIGNATURE,
        subject="【RiskWatch】设备恢复在线：{place} {device}",
    ),
    (_ON, _APP, _E): Template(
        "Device back online: {place} {device} reporting again since {online_at}, offline for"
        " {down_for} (technical alarm {alarm_ref} cleared)."
    ),
    (_ON, _SMS, _E): Template(
        "[RiskWatch] Device back online: {place} {device} reporting again since {online_at},"
        " offline for {down_for} (technical alarm {alarm_ref} cleared)."
    ),
    (_ON, _VOICE, _E): Template(
        "RiskWatch reminder. {place} {device} is back online since {online_at}, after"
        " {down_for} offline. Please press 1 to acknowledge"
    ),
    (_ON, _HOOK, _E): Template(
        "[RiskWatch] Device back online\nPlace: {place}\nDevice: {device}\n"
        "Back since: {online_at}\nOffline for: {down_for}\nTechnical alarm: {alarm_ref} (cleared)"
    ),
    (_ON, _MAIL, _E): Template(
        "{device} is reporting again since {online_at}, after {down_for} offline; technical"
        " alarm {alarm_ref} is cleared.\n\nPlace: {place}\nOffline since: {offline_at}"
        + _EN_SIGNATURE,
        subject="[RiskWatch] Device back online: {place} {device}",
    ),
}


# -- sample values, for previews ----------------------------------------------------------------

_SAMPLE_ZONE = ZoneInfo("Asia/Shanghai")
_SAMPLE_AT = datetime(2026, 11, 2, 3, 0, tzinfo=_SAMPLE_ZONE)


def _sample_alarm(locale: Locale) -> AlarmSnapshot:
    zh = locale is Locale.ZH_CN
    at = _SAMPLE_AT
    return AlarmSnapshot(
        alarm_id="1a2b3c4d-0000-4000-8000-000000000000",
        rule_id="gas-lel",
        rule_version=1,
        device=DeviceRef(
            device_id="gas-001",
            sector_id="construction",
            scenario_id="gas",
            town_id="lujiazui",
            name="燃气井1" if zh else "Gas well 1",
        ),
        metric="ch4_lel",
        level=Level.RED,
        status="active",
        value=55.0,
        threshold=20.0,
        observed_at=at,
        received_at=at,
        raised_at=at,
    )


def sample_variables(key: TemplateKey, channel: ChannelKind, locale: str) -> dict[str, str]:
    """Documented sample values of every variable of `key`: what a preview fills in."""
    loc = locale_of(locale)
    zh = loc is Locale.ZH_CN
    center = "陆家嘴街道值班中心" if zh else "Lujiazui duty center"
    if key is TemplateKey.ALARM:
        return alarm_variables(
            _sample_alarm(loc),
            place="陆家嘴街道" if zh else "Lujiazui Street",
            step=0,
            channel=channel,
            locale=loc,
        )
    if key is TemplateKey.DIGEST:
        return digest_variables(
            count=190,
            by_level={"red": 1, "yellow": 189},
            since=_SAMPLE_AT,
            until=_SAMPLE_AT + timedelta(minutes=10),
            first_refs=["1a2b3c4d", "5e6f7a8b", "9c0d1e2f"],
            tz=_SAMPLE_ZONE,
            locale=loc,
        )
    if key in WORK_ORDER_KEYS:
        return work_order_variables(
            work_order_id="5e6f7a8b-0000-4000-8000-000000000000",
            level="red",
            tier="medium" if key is TemplateKey.WORK_ORDER_TIER else "small",
            assignee="zhang.san",
            place="陆家嘴街道" if zh else "Lujiazui Street",
            sector="建设" if zh else "Construction",
            unit=center,
            to_me=key is TemplateKey.WORK_ORDER,
            action="dispatch",
            stage="on_site",
            due=_SAMPLE_AT + timedelta(minutes=30),
            now=_SAMPLE_AT,
            tz=_SAMPLE_ZONE,
            channel=channel,
            locale=loc,
        )
    if key in DEVICE_KEYS:
        online = key is TemplateKey.DEVICE_ONLINE
        return device_variables(
            _sample_alarm(loc),
            place="陆家嘴街道" if zh else "Lujiazui Street",
            online_at=_SAMPLE_AT + timedelta(hours=2, minutes=5) if online else None,
            tz=_SAMPLE_ZONE,
            channel=channel,
            locale=loc,
        )
    if key is TemplateKey.BULLETIN:
        return bulletin_variables(
            week_start=datetime(2026, 11, 30, tzinfo=_SAMPLE_ZONE),
            week_end=datetime(2026, 12, 7, tzinfo=_SAMPLE_ZONE),
            units=[
                UnitCount("花木街道" if zh else "Huamu", 3, 1),
                UnitCount("燃气分平台" if zh else "Gas sub-platform", 2, 0),
            ],
            tz=_SAMPLE_ZONE,
            locale=loc,
        )
    if key is TemplateKey.ROSTER:
        day = datetime(2026, 12, 1, 8, 30, tzinfo=_SAMPLE_ZONE)
        shifts = [
            ShiftSpan(f"s{i}", "street-lujiazui", "zhang.san", start, start + timedelta(hours=9))
            for i, start in enumerate(day + timedelta(days=2 * n) for n in range(8))
        ]
        return roster_variables(
            center=center, version=1, shifts=shifts, tz=_SAMPLE_ZONE, locale=loc, listed=3
        )
    return check_in_variables(
        center=center,
        start=datetime(2026, 12, 1, 8, 30, tzinfo=_SAMPLE_ZONE),
        grace=timedelta(minutes=15),
        on_duty="zhang.san",
        tz=_SAMPLE_ZONE,
    )


# -- parsing and rendering ----------------------------------------------------------------------


class TemplateError(ValueError):
    """A template text that cannot be used: its problems in words, and the unknown variables."""

    def __init__(self, problems: Sequence[str], *, unknown: Sequence[str] = ()) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)
        self.unknown = list(unknown)


@dataclass(frozen=True, slots=True)
class _Part:
    literal: str
    name: str | None  # the variable after the literal, if any


def _scan(text: str) -> tuple[list[_Part], list[str]]:
    """The literal runs and `{name}` placeholders of `text`, and what is wrong with it. Only
    plain names: a template is user input rendered on the server, so attribute and index
    access ({a.b}, {a[0]}), format specs and conversions are refused rather than handed to
    str.format. A malformed placeholder is left out of the parts."""
    try:
        pieces = list(string.Formatter().parse(text))
    except ValueError:
        # Our words, not the exception's: "Single '}' encountered" is less clear.
        return [], ["unbalanced braces: write {name} for a variable, {{ and }} for a literal brace"]
    parts: list[_Part] = []
    problems: list[str] = []
    for literal, name, spec, conversion in pieces:
        if name is None:
            parts.append(_Part(literal, None))
            continue
        shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
        shown += "}"
        if name == "" or name.isdigit():
            problems.append(f"{shown}: a placeholder names a variable, e.g. {{level}}")
        elif "." in name or "[" in name:
            problems.append(f"{shown}: attribute and index access are not allowed")
        elif not name.isidentifier():
            problems.append(f"{shown}: not a variable name")
        elif conversion or spec:
            problems.append(f"{shown}: conversions and format specs are not allowed")
        else:
            parts.append(_Part(literal, name))
            continue
        parts.append(_Part(literal, None))
    return parts, problems


def _parse(text: str) -> list[_Part]:
    parts, problems = _scan(text)
    if problems:
        raise TemplateError(problems)
    return parts


def variables_in(text: str) -> list[str]:
    """The variables `text` uses, in order of first use; TemplateError if it is malformed."""
    return list(dict.fromkeys(p.name for p in _parse(text) if p.name is not None))


def validate(key: TemplateKey, body: str, subject: str | None = None) -> list[str]:
    """The variables a template of `key` uses; TemplateError listing what is wrong (malformed
    placeholders, unknown variables) otherwise."""
    known = VARIABLES[key]
    problems: list[str] = []
    used: list[str] = []
    for where, text in (("body", body), ("subject", subject)):
        if text is None:
            continue
        parts, wrong = _scan(text)
        used += [p.name for p in parts if p.name is not None]
        problems += [f"{where}: {p}" for p in wrong]
    unknown = [name for name in dict.fromkeys(used) if name not in known]
    if unknown:
        problems.append(
            f"unknown variables for {key.value}: {', '.join(unknown)} (known: {', '.join(known)})"
        )
    if problems:
        raise TemplateError(problems, unknown=unknown)
    return list(dict.fromkeys(used))


_SPACES = re.compile(r"[ \t]{2,}")
_SPACE_BEFORE = re.compile(r"[ \t]+(?=[，。：；、）,.:;)\n])")
_SPACE_AFTER = re.compile(r"(?<=[：（(\n])[ \t]+")


def tidy(text: str) -> str:
    """What an empty variable leaves behind, gone: runs of spaces, a space before punctuation
    or after an opening one, spaces at either end."""
    text = _SPACES.sub(" ", text)
    text = _SPACE_BEFORE.sub("", text)
    text = _SPACE_AFTER.sub("", text)
    return text.strip(" \t")


def render(template: str, variables: Mapping[str, str], *, missing: str | None = None) -> str:
    """`template` with each `{name}` replaced by its value. A variable without a value is an
    error, unless `missing` says what to put instead."""
    out: list[str] = []
    for part in _parse(template):
        out.append(part.literal)
        if part.name is None:
            continue
        value = variables.get(part.name, missing)
        if value is None:
            raise TemplateError([f"no value for {{{part.name}}}"])
        out.append(value)
    return "".join(out)


# -- SMS length ---------------------------------------------------------------------------------

# A message longer than one segment travels in parts that each lose room to the concatenation
# header: 67 UCS-2 characters or 153 GSM septets a part.
_PART = {70: 67, 160: 153}
SMS_MAX_SEGMENTS = 2  # what an SMS template aims at: one or two segments


def sms_segments(text: str) -> int:
    """How many SMS segments `text` is sent in."""
    length, segment = sms_length(text)
    if length <= segment:
        return 1
    return math.ceil(length / _PART.get(segment, segment))


# What gives way, in order, when an SMS would take more than SMS_MAX_SEGMENTS: each variable is
# emptied, or replaced by the value of the second.
_SHRINK: Mapping[TemplateKey, Sequence[tuple[str, str | None]]] = {
    TemplateKey.ALARM: [("place", None), ("device", "device_id"), ("device_name", None)],
    TemplateKey.DIGEST: [("first_refs", None)],
    **dict.fromkeys(WORK_ORDER_KEYS, (("place", "sector"), ("place", None), ("unit", None))),
    TemplateKey.BULLETIN: (("units", "units_short"), ("units", "units_first"), ("units", None)),
    **dict.fromkeys(DEVICE_KEYS, (("place", None), ("device", "device_id"))),
}


# -- the templates in force ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered notice: the full text (what the app, the robots, the file adapters show),
    an e-mail's subject, and for providers that send approved templates the template id and
    the parameters (the variables the body uses)."""

    text: str
    subject: str | None = None
    provider_template_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)


TemplateId = tuple[TemplateKey, ChannelKind, Locale]


class Templates:
    """The texts in force: edited ones (`custom`) over the built-in DEFAULTS."""

    def __init__(self, custom: Mapping[TemplateId, Template] | None = None) -> None:
        self._custom = dict(custom or {})

    def template(self, key: TemplateKey, channel: ChannelKind, locale: str) -> Template:
        loc = locale_of(locale)
        default = DEFAULTS[key, channel, loc]
        custom = self._custom.get((key, channel, loc))
        if custom is None:
            return default
        if channel is ChannelKind.EMAIL and custom.subject is None:
            return replace(custom, subject=default.subject)  # an edited body keeps the subject
        return custom

    def render(
        self,
        key: TemplateKey,
        channel: ChannelKind,
        locale: str,
        variables: Mapping[str, str],
    ) -> Rendered:
        """The notice of `key` on `channel` in `locale` (zh-CN for one we do not have). It
        never fails for a stored text: a variable without a value renders empty, and a text
        that no longer parses gives way to the built-in one. An SMS over two segments drops
        details (place, device name) before it is sent in more parts."""
        loc = locale_of(locale)
        chosen = self.template(key, channel, loc)
        try:
            validate(key, chosen.body, chosen.subject)
        except TemplateError:
            chosen = DEFAULTS[key, channel, loc]
        values = dict(variables)
        rendered = _render(chosen, values)
        if channel is ChannelKind.SMS:
            for name, instead in _SHRINK.get(key, ()):
                if sms_segments(rendered.text) <= SMS_MAX_SEGMENTS:
                    break
                values[name] = values.get(instead, "") if instead else ""
                rendered = _render(chosen, values)
        return rendered


def _render(template: Template, variables: Mapping[str, str]) -> Rendered:
    used = variables_in(template.body)
    return Rendered(
        text=tidy(render(template.body, variables, missing="")),
        subject=(
            tidy(render(template.subject, variables, missing=""))
            if template.subject is not None
            else None
        ),
        provider_template_id=template.provider_template_id,
        params={name: variables.get(name, "") for name in used},
    )


@dataclass(frozen=True, slots=True)
class Preview:
    rendered: Rendered
    variables: dict[str, str]  # the values used: those given, the rest from the samples
    segments: int | None  # for an SMS


def preview(
    templates: Templates,
    *,
    key: TemplateKey,
    channel: ChannelKind,
    locale: str,
    body: str | None,
    subject: str | None,
    variables: Mapping[str, str],
) -> Preview:
    """How a text (`body`, or the one in force) reads with `variables`, the missing ones taken
    from the documented samples. TemplateError for a malformed text or unknown variables."""
    loc = locale_of(locale)
    unknown = [name for name in variables if name not in VARIABLES[key]]
    if unknown:
        raise TemplateError(
            [f"unknown variables for {key.value}: {', '.join(unknown)}"], unknown=unknown
        )
    current = templates.template(key, channel, loc)
    draft = current
    if body is not None or subject is not None:
        draft = Template(
            body=body if body is not None else current.body,
            subject=subject if subject is not None else current.subject,
            provider_template_id=current.provider_template_id,
        )
    validate(key, draft.body, draft.subject)
    values = {**sample_variables(key, channel, loc), **variables}
    rendered = Templates({(key, channel, loc): draft}).render(key, channel, loc, values)
    segments = sms_segments(rendered.text) if channel is ChannelKind.SMS else None
    return Preview(rendered, values, segments)
