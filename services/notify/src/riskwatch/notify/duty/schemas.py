"""API models of duty: centers and members, rosters, swaps, check-in, who is on duty, duty
alerts, routing and its preview."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from riskwatch.common.events.base import Level
from riskwatch.common.inputs import FreeText, Line
from riskwatch.notify.duty.contacts import (
    EMAIL_MAX_LENGTH,
    ROBOT_URL_MAX_LENGTH,
    check_email,
    check_robot_url,
)
from riskwatch.notify.duty.domain import AlertKind, Attendance, CenterKind
from riskwatch.notify.duty.rostering import Override, RosterSpec, ShiftTemplate
from riskwatch.notify.duty.rules import RuleIn
from riskwatch.notify.notifications.domain import ChannelKind, mask_recipient
from riskwatch.notify.templates.domain import DEFAULT_LOCALE, Locale, locale_of

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{5,20}$")]
# A center's group robot, "wecom:<https url>" or "dingtalk:<https url>" (contacts.py says what
# passes); whether its host may be posted to is checked against the settings by the service.
RobotUrl = Annotated[
    str, StringConstraints(max_length=ROBOT_URL_MAX_LENGTH), AfterValidator(check_robot_url)
]
# A plain address (contacts.check_email): email-validator is not installed, so not EmailStr.
Email = Annotated[str, StringConstraints(max_length=EMAIL_MAX_LENGTH), AfterValidator(check_email)]
# What a person's messages are written in, as the sender reads the stored value.
StoredLocale = Annotated[Locale, BeforeValidator(locale_of)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DutyCenterCreate(_In):
    duty_center_id: Slug
    name: Line = Field(min_length=1, max_length=200)
    kind: CenterKind
    sector_id: Slug | None = None
    town_id: Slug | None = None
    fallback_id: Slug | None = None
    robot_url: RobotUrl | None = Field(
        default=None,
        description="the center's group robot, posted to by escalation steps that target robots "
        '(by default the first of red and orange alarms): "wecom:<https url>" or '
        '"dingtalk:<https url>", its host among RW_ROBOT_ALLOWED_HOSTS',
    )


class DutyCenterUpdate(_In):
    """Only the fields given change; null clears leader, fallback or robot."""

    name: Line | None = Field(default=None, min_length=1, max_length=200)
    leader_id: Slug | None = None
    fallback_id: Slug | None = None
    robot_url: RobotUrl | None = None


class DutyCenterRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    duty_center_id: str
    name: str
    kind: CenterKind
    sector_id: str | None
    town_id: str | None
    leader_id: str | None = None
    fallback_id: str | None = None
    robot_url: str | None = Field(
        default=None,
        description='the robot\'s kind and host only ("wecom:qyapi.weixin.qq.com"): its URL holds '
        "its key",
    )
    created_at: datetime
    updated_at: datetime

    @field_validator("robot_url")
    @classmethod
    def _masked(cls, value: str | None) -> str | None:
        # The delivery log's masking: a reader (and the audit trail) never sees the key.
        return None if value is None else mask_recipient(ChannelKind.WEBHOOK.value, value)


class DutyCenterPage(BaseModel):
    items: list[DutyCenterRead]
    next_cursor: str | None = None


class MemberPut(_In):
    """How to reach a member. `email` and `locale` not given are left as they are (none and
    zh-CN for someone new): a person may be a member of several centers."""

    name: Line = Field(min_length=1, max_length=200)
    phone: Phone
    email: Email | None = Field(default=None, description="e-mail notices; null: none")
    locale: Locale = Field(default=DEFAULT_LOCALE, description="the language of their messages")


class MemberRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    person_id: str
    name: str
    phone: str
    email: str | None = None
    locale: StoredLocale = DEFAULT_LOCALE


class ShiftRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    shift_id: str
    starts_at: datetime
    ends_at: datetime


class OnDutyPersonRead(BaseModel):
    person_id: str
    name: str
    phone: str
    shift: ShiftRead
    checked_in_at: datetime | None = None


class OnDutyRead(BaseModel):
    duty_center_id: str
    at: datetime
    attendance: Attendance
    people: list[OnDutyPersonRead]


# -- rosters ------------------------------------------------------------------------------------


class TemplateIn(_In):
    name: Slug = Field(max_length=32)
    start: time
    end: time

    @model_validator(mode="after")
    def _not_empty(self) -> TemplateIn:
        if self.start == self.end:
            raise ValueError("a shift from a time to the same time would last 0 or 24 h; say which")
        return self


class OverrideIn(_In):
    day: date
    template: Slug
    person_id: Slug


class RosterDraft(_In):
    """A roster of `days` whole local days from `first_day`: `templates` in the order of a day,
    `rotation` taking turns slot by slot, `overrides` for one-off changes."""

    first_day: date
    days: int = Field(ge=1, le=62)
    templates: list[TemplateIn] = Field(min_length=1, max_length=6)
    rotation: list[Slug] = Field(default_factory=list, max_length=100)
    overrides: list[OverrideIn] = Field(default_factory=list, max_length=1000)
    allow_gaps: bool = False

    def to_spec(self) -> RosterSpec:
        return RosterSpec(
            templates=tuple(ShiftTemplate(t.name, t.start, t.end) for t in self.templates),
            rotation=tuple(self.rotation),
            overrides=tuple(Override(o.day, o.template, o.person_id) for o in self.overrides),
        )


class RosterShiftRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    shift_id: str
    person_id: str
    template: Slug
    starts_at: datetime
    ends_at: datetime
    published: bool
    checked_in_at: datetime | None
    checked_in_via: str | None
    checked_in_late: bool | None


class RosterProblemRead(BaseModel):
    kind: str
    starts_at: datetime
    ends_at: datetime
    minutes: float
    person_id: str | None
    shift_ids: list[str]
    other_duty_center_id: str | None


class RosterRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    roster_id: str
    duty_center_id: str
    first_day: date
    days: int
    period_start: datetime
    period_end: datetime
    spec: dict[str, Any]
    status: str
    version: int
    allow_gaps: bool
    created_by: str
    created_at: datetime
    published_at: datetime | None
    first_published_at: datetime | None
    published_by: str | None


class RosterDetail(RosterRead):
    shifts: list[RosterShiftRead]
    problems: list[RosterProblemRead]


class RosterList(BaseModel):
    items: list[RosterRead]


class SwapCreate(_In):
    shift_id: Line = Field(min_length=1, max_length=128)
    to_person_id: Slug
    reason: FreeText | None = Field(default=None, max_length=500)


class SwapDecision(_In):
    approve: bool


class SwapRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    swap_id: str
    shift_id: str
    duty_center_id: str
    from_person_id: str
    to_person_id: str
    reason: str | None
    status: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None


# -- check-in -----------------------------------------------------------------------------------


class CheckInCreate(_In):
    duty_center_id: Slug | None = None  # which center, when on shift at two


class CheckInRead(BaseModel):
    shift_id: str
    duty_center_id: str
    person_id: str
    starts_at: datetime
    ends_at: datetime
    checked_in_at: datetime
    via: str
    late: bool


class SmsInbound(_In):
    """A reply as the SMS provider's webhook delivers it."""

    message_id: Line = Field(min_length=1, max_length=128)
    sender: Phone = Field(alias="from")
    text: FreeText = Field(max_length=1000)
    received_at: datetime | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SmsInboundRead(BaseModel):
    message_id: str
    understood: bool
    outcome: str
    check_in: CheckInRead | None = None
    # An acknowledgement (签收): the notification acknowledged and its alarm.
    acknowledged_notification_id: str | None = None
    alarm_id: str | None = None


# -- alerts -------------------------------------------------------------------------------------


class DutyAlertRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    alert_id: str
    kind: AlertKind
    duty_center_id: str | None
    shift_id: str | None
    alarm_id: str | None
    detail: str
    raised_at: datetime
    resolved_at: datetime | None


class DutyAlertPage(BaseModel):
    items: list[DutyAlertRead]
    next_cursor: str | None = None


# -- routing ------------------------------------------------------------------------------------


class RoutingPut(_In):
    rules: list[RuleIn] = Field(min_length=1, max_length=100)
    note: FreeText | None = Field(default=None, max_length=500)


class RoutingRead(BaseModel):
    version: int  # 0: the built-in default, never edited
    rules: list[RuleIn]
    note: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None


class RoutingVersions(BaseModel):
    items: list[RoutingRead]


class PreviewPerson(BaseModel):
    person_id: str
    name: str
    phone: str
    checked_in_at: datetime | None


class PreviewCenter(BaseModel):
    duty_center_id: str
    reason: str
    fallback_for: str | None
    attendance: Attendance
    people: list[PreviewPerson]


class RoutingPreview(BaseModel):
    """Who would be notified now for an alarm at this place and level, and why."""

    at: datetime
    routing_version: int
    level: Level
    sector_id: str
    scenario_id: str | None
    town_id: str | None
    centers: list[PreviewCenter]
    people_notified: int
    reaches_nobody: bool
