"""A notification's delivery log over HTTP: every attempt, receipt and callback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import ReadSessionDep
from riskwatch.common.inputs import Key
from riskwatch.notify.notifications import delivery
from riskwatch.notify.notifications.delivery_schemas import (
    DeliveryAttemptList,
    DeliveryAttemptRead,
)

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])

Reader = Annotated[Principal, Depends(require(Permission.NOTIFICATIONS_READ))]


@router.get("/{notification_id}/attempts", response_model=DeliveryAttemptList)
async def list_attempts(
    notification_id: Key, session: ReadSessionDep, caller: Reader
) -> DeliveryAttemptList:
    """The notification's delivery log, oldest first: each attempt (provider, request without
    secrets, outcome, error in our words, latency) and each receipt or callback. Visible to
    whoever may see the notification."""
    rows = await delivery.list_attempts(
        session, notification_id=notification_id, scope=caller.scope, me=caller.subject
    )
    return DeliveryAttemptList(items=[DeliveryAttemptRead.model_validate(r) for r in rows])
