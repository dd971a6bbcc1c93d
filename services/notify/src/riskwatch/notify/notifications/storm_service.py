"""Storm control on the way into the notification table: the notices about to be inserted are
checked against what went to each recipient lately; those a cap holds back are kept as
`suppressed` and counted in the window's digest, itself a notification due when the window
ends. The caller owns the transaction."""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.notify.notifications.domain import ChannelKind, Status, Topic, short_alarm_id
from riskwatch.notify.notifications.models import Notification
from riskwatch.notify.notifications.storm import (
    Candidate,
    Cap,
    Decision,
    Sent,
    StormCaps,
    day_of,
    decide,
    digest_key,
    is_red_first,
    window_of,
)
from riskwatch.notify.settings import NotifySettings
from riskwatch.notify.templates.domain import (
    DEFAULT_LOCALE,
    TemplateKey,
    Templates,
    digest_variables,
)
from riskwatch.notify.templates.service import load_templates

Row = dict[str, object]
# How many alarms a digest names.
FIRST_REFS = 3
# What a row built by a caller that left a column out gets, so that every row of one INSERT has
# the same columns (a multi-row VALUES needs them); the rest default to NULL.
_FILL: dict[str, object] = {"step": 0, "round": 0, "locale": DEFAULT_LOCALE.value, "attempts": 0}


def caps_from(settings: NotifySettings, zone: ZoneInfo) -> StormCaps:
    """The caps the settings ask for (RW_STORM_*), with days starting at `zone`'s midnight."""
    return StormCaps(
        window=timedelta(minutes=settings.storm_window_min),
        sms=Cap(settings.storm_sms_per_window, settings.storm_sms_per_day),
        voice=Cap(settings.storm_voice_per_window, settings.storm_voice_per_day),
        zone=zone,
    )


def _lock_id(recipient: str, channel: str) -> int:
    """A stable signed 64-bit advisory lock id for one recipient and channel."""
    digest = hashlib.blake2b(f"rw-storm:{recipient}:{channel}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def admit(
    session: AsyncSession,
    rows: list[Row],
    *,
    now: datetime,
    caps: StormCaps,
    templates: Templates | None = None,
) -> list[Row]:
    """The rows to insert instead of `rows` (dicts of notification columns, `created_at` =
    `now`): SMS and calls beyond a recipient's caps are `suppressed`, with the `digest_id` of
    the digest that counts them; that digest is created (among the rows returned) or updated
    (in place) with the new count. Serialised per recipient and channel with a transaction
    advisory lock, so concurrent planners never overshoot a cap together. Rows whose
    idempotency key exists already are returned unchanged (the insert skips them) and not
    counted."""
    out = [{**row, "digest_id": row.get("digest_id")} for row in rows]
    groups: dict[tuple[str, ChannelKind], list[Row]] = {}
    for row in out:
        channel = ChannelKind(str(row["channel"]))
        if caps.cap(channel) is None or row.get("topic") == Topic.DIGEST.value:
            continue  # not capped; a digest is never held back itself
        if not row.get("recipient"):
            continue  # no number: it fails on its own, and must not share a cap with others
        groups.setdefault((str(row["recipient"]), channel), []).append(row)
    if not groups:
        return out
    # One lock order for every transaction: two planners never wait on each other in a ring.
    for lock_id in sorted({_lock_id(r, c.value) for r, c in groups}):
        await session.execute(select(func.pg_advisory_xact_lock(lock_id)))
    # Read after the locks: what a transaction that held them committed is visible now.
    keys = [str(row["idempotency_key"]) for group in groups.values() for row in group]
    existing = set(
        (
            await session.scalars(
                select(Notification.idempotency_key).where(Notification.idempotency_key.in_(keys))
            )
        ).all()
    )
    window = window_of(now, caps)
    day_start, _ = day_of(now, caps.zone)
    new_digests: list[Row] = []
    for (recipient, channel), group in groups.items():
        fresh = [row for row in group if row["idempotency_key"] not in existing]
        if not fresh:
            continue
        cap = caps.cap(channel)
        if cap is None:
            continue  # only capped channels are grouped
        sent = await _sent(
            session, recipient=recipient, channel=channel, since=day_start, window_start=window[0]
        )
        decisions = decide(cap, sent, [Candidate(red_first=_red_first(row)) for row in fresh])
        held = [row for row, d in zip(fresh, decisions, strict=True) if d is Decision.SUPPRESS]
        if not held:
            continue
        if templates is None:
            templates = await load_templates(session)
        digest = await _hold_back(
            session,
            held,
            recipient=recipient,
            channel=channel,
            window=window,
            now=now,
            caps=caps,
            templates=templates,
        )
        if digest is not None:
            new_digests.append(digest)
    return _same_columns(out + new_digests)


def _red_first(row: Row) -> bool:
    level = row.get("level")
    return is_red_first(
        topic=str(row.get("topic", Topic.ALARM.value)),
        level=str(level) if level is not None else None,
        step=int(str(row.get("step") or 0)),
        round_=int(str(row.get("round") or 0)),
    )


async def _sent(
    session: AsyncSession,
    *,
    recipient: str,
    channel: ChannelKind,
    since: datetime,
    window_start: datetime,
) -> Sent:
    """What went (or is going) to the recipient on the channel since the day began, and since
    the window began: neither held back notices nor digests count."""
    in_window, in_day = (
        await session.execute(
            select(
                func.count().filter(Notification.created_at >= window_start),
                func.count(),
            ).where(
                Notification.recipient == recipient,
                Notification.channel == channel.value,
                Notification.created_at >= since,
                Notification.status != Status.SUPPRESSED.value,
                Notification.topic != Topic.DIGEST.value,
            )
        )
    ).one()
    return Sent(in_window=int(in_window), in_day=int(in_day))


async def _hold_back(
    session: AsyncSession,
    held: Sequence[Row],
    *,
    recipient: str,
    channel: ChannelKind,
    window: tuple[datetime, datetime],
    now: datetime,
    caps: StormCaps,
    templates: Templates,
) -> Row | None:
    """Mark `held` suppressed in the window's digest, created or updated with the new count.
    The new digest's row, None when it existed."""
    start, end = window
    key = digest_key(recipient, channel, start)
    digest = await session.scalar(
        select(Notification).where(Notification.idempotency_key == key).with_for_update()
    )
    if digest is not None and digest.status != Status.PENDING.value:
        # Its window is over and it is on its way: only a clock behind the dispatcher's gets
        # here. Nothing is lost: these go out after all.
        return None
    digest_id = digest.notification_id if digest is not None else str(uuid.uuid4())
    by_level: Counter[str | None] = Counter()
    refs: list[str] = []
    if digest is not None:
        by_level, refs = await _counted(session, digest, since=start)
    for row in held:
        row["status"] = Status.SUPPRESSED.value
        row["digest_id"] = digest_id
        level = row.get("level")
        by_level[str(level) if level is not None else None] += 1
        if row.get("alarm_id") is not None:
            refs.append(short_alarm_id(str(row["alarm_id"])))
    first = held[0]
    locale = str(digest.locale if digest is not None else first.get("locale") or DEFAULT_LOCALE)
    rendered = templates.render(
        TemplateKey.DIGEST,
        channel,
        locale,
        digest_variables(
            count=sum(by_level.values()),
            by_level=by_level,
            since=start,
            until=end,
            first_refs=list(dict.fromkeys(refs))[:FIRST_REFS],
            tz=caps.zone,
            locale=locale,
        ),
    )
    text = {
        "message": rendered.text,
        "subject": rendered.subject,
        "template_id": rendered.provider_template_id,
        "params": dict(rendered.params) or None,
    }
    if digest is not None:
        await session.execute(
            update(Notification).where(Notification.notification_id == digest_id).values(**text)
        )
        return None
    return {
        "notification_id": digest_id,
        "topic": Topic.DIGEST.value,
        "alarm_id": None,
        "sector_id": None,
        "town_id": None,
        "village_id": None,
        "level": None,
        "duty_center_id": first["duty_center_id"],
        "person_id": first["person_id"],
        "channel": channel.value,
        "recipient": recipient,
        **text,
        "locale": locale,
        "step": 0,
        "round": 0,
        "status": Status.PENDING.value,
        "idempotency_key": key,
        "attempts": 0,
        # Sent when the window ends, with everything the window held back.
        "next_attempt_at": end,
        "alarm_received_at": None,
        "traceparent": None,
        "created_at": now,
        "digest_id": None,
    }


async def _counted(
    session: AsyncSession, digest: Notification, *, since: datetime
) -> tuple[Counter[str | None], list[str]]:
    """What a digest counts so far: per level, and the first alarms it names."""
    # recipient, channel and created_at keep the scan on ix_notification_recipient.
    counted = (
        Notification.recipient == digest.recipient,
        Notification.channel == digest.channel,
        Notification.created_at >= since,
        Notification.digest_id == digest.notification_id,
    )
    by_level: Counter[str | None] = Counter()
    for level, count in (
        await session.execute(
            select(Notification.level, func.count()).where(*counted).group_by(Notification.level)
        )
    ).all():
        by_level[level] = int(count)
    alarm_ids = (
        await session.scalars(
            select(Notification.alarm_id)
            .where(*counted, Notification.alarm_id.is_not(None))
            .order_by(Notification.created_at, Notification.seq)
            .limit(FIRST_REFS * 4)
        )
    ).all()
    return by_level, [short_alarm_id(a) for a in alarm_ids if a is not None]


def _same_columns(rows: list[Row]) -> list[Row]:
    """Every row with the same columns, for one multi-row INSERT."""
    columns = {column for row in rows for column in row}
    return [{c: row[c] if c in row else _FILL.get(c) for c in columns} for row in rows]
