"""HTTP API of notifications."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import AuditDep, ReadSessionDep, SessionDep
from riskwatch.common.errors import Forbidden, NotFound, problem_responses
from riskwatch.common.inputs import Key
from riskwatch.common.pagination import DEFAULT_LIMIT, MAX_LIMIT
from riskwatch.notify.notifications import service
from riskwatch.notify.notifications.domain import AckVia, ChannelKind, Status, Topic
from riskwatch.notify.notifications.schemas import NotificationPage, NotificationRead

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])

# notifications:own reads what was sent to oneself; notifications:read all within one's scope.
Reader = Annotated[Principal, Depends(require(Permission.NOTIFICATIONS_OWN))]
Acknowledger = Annotated[Principal, Depends(require(Permission.NOTIFICATIONS_ACK))]


@router.get("", response_model=NotificationPage)
async def list_notifications(
    session: ReadSessionDep,
    caller: Reader,
    alarm_id: Key | None = None,
    topic: Topic | None = None,
    status: Status | None = None,
    channel: ChannelKind | None = None,
    person_id: Key | None = None,
    duty_center_id: Key | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> NotificationPage:
    """Notifications, newest first; filter by alarm, topic (alarm, roster, check_in, digest,
    work_order, device), status, channel, person (`me` for the caller) or duty center. Everyone
    also sees, whatever their scope, the notifications sent to them; without
    notifications:read (the technical staff), only those."""
    if Permission.NOTIFICATIONS_READ not in caller.permissions:
        if person_id not in (None, "me", caller.subject):
            raise Forbidden("Without notifications:read only your own notifications are listed.")
        person_id = "me"
    items, next_cursor = await service.list_notifications(
        session,
        alarm_id=alarm_id,
        topic=topic.value if topic else None,
        status=status.value if status else None,
        channel=channel.value if channel else None,
        person_id=caller.subject if person_id == "me" else person_id,
        duty_center_id=duty_center_id,
        cursor=cursor,
        limit=limit,
        scope=caller.scope,
        me=caller.subject,
    )
    return NotificationPage(
        items=[NotificationRead.model_validate(n) for n in items], next_cursor=next_cursor
    )


@router.get("/{notification_id}", response_model=NotificationRead)
async def get_notification(
    notification_id: Key, session: ReadSessionDep, caller: Reader
) -> NotificationRead:
    row = await service.get_notification_or_raise(
        session, notification_id=notification_id, scope=caller.scope, me=caller.subject
    )
    if Permission.NOTIFICATIONS_READ not in caller.permissions and row.person_id != caller.subject:
        raise NotFound(f"No notification {notification_id!r}.")  # as if it did not exist
    return NotificationRead.model_validate(row)


@router.post(
    "/{notification_id}/ack",
    response_model=NotificationRead,
    # 403: sent to someone else (only they or their center's leader may acknowledge it);
    # 409: not on its way or delivered (failed, suppressed).
    responses=problem_responses(403, 409),
)
async def acknowledge_notification(
    notification_id: Key, session: SessionDep, principal: Acknowledger, audit: AuditDep
) -> NotificationRead:
    """The caller confirms they have the notification (签收), which stops its alarm's
    escalation. Only the person it was sent to, or the leader of the duty center it was sent
    for, may. Acknowledging twice answers the same."""
    row = await service.acknowledge_notification(
        session,
        notification_id=notification_id,
        by=principal.subject,
        via=AckVia.API,
        now=datetime.now(UTC),
        caller=principal,
    )
    if audit is not None:
        audit.changed(None, {"status": row.status, "acknowledged_by": row.acknowledged_by})
    return NotificationRead.model_validate(row)
