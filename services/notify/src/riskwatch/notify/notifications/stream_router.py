"""GET /api/v1/notifications/stream: the caller's in-app notifications as Server-Sent Events,
resumable with Last-Event-ID (ADR 0018). The cursor and the read are in `stream`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.security.utils import get_authorization_scheme_param
from fastapi.sse import EventSourceResponse, ServerSentEvent
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, current_principal, require
from riskwatch.common.deps import settings_dependency
from riskwatch.common.errors import AppError, problem_responses
from riskwatch.common.retry import is_transient
from riskwatch.notify.notifications.schemas import NotificationRead
from riskwatch.notify.notifications.stream import Cursor, read_after, start_now
from riskwatch.notify.settings import NotifySettings

PREFIX = "/api/v1/notifications"
# How long a browser's EventSource waits before it reconnects (the `retry` field).
RECONNECT_MS = 3000

router = APIRouter(prefix=PREFIX, tags=["notifications"])
log = structlog.get_logger(__name__)

Reader = Annotated[Principal, Depends(require(Permission.NOTIFICATIONS_OWN))]
Settings = Annotated[NotifySettings, Depends(settings_dependency("notify", NotifySettings))]

STREAMS_OPEN = Gauge("rw_notification_streams_open", "Live notification streams open now")
STREAM_READS = Counter(
    "rw_notification_stream_reads_total", "Reads of the live notification streams"
)


class NotificationEvent(NotificationRead):
    """A notification as the stream sends it, with where its person acknowledges it."""

    ack_url: str


def ack_url(notification_id: str) -> str:
    return f"{PREFIX}/{quote(notification_id, safe='')}/ack"


async def resume_from(
    request: Request,
    last_event_id_header: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="The id of the last event received: the stream resumes after it.",
        ),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Query(description="Last-Event-ID for a client that cannot set headers; the header wins."),
    ] = None,
) -> Cursor:
    """Where the stream starts: after the event the client names, else now. Resolved before
    the response starts, so a bad id is a 422 and a database outage a 503, not a broken
    stream."""
    given = last_event_id_header if last_event_id_header is not None else last_event_id
    if given is not None:
        return Cursor.parse(given)
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return await start_now(sessions)


Start = Annotated[Cursor, Depends(resume_from)]


async def still_admitted(request: Request) -> bool:
    """The caller, as their account stands now, may still read notifications: the token has
    not expired, the account is neither disabled nor revoked, and its roles still allow it."""
    _, token = get_authorization_scheme_param(request.headers.get("Authorization"))
    try:
        principal = await current_principal(request, token or None)
    except AppError:  # refused (recorded by the check), or the keys cannot be had now
        return False
    return Permission.NOTIFICATIONS_OWN in principal.permissions


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    responses=problem_responses(
        422, descriptions={422: "Last-Event-ID (header or query) is not an event id of the stream"}
    ),
)
async def stream_notifications(
    request: Request, caller: Reader, settings: Settings, start: Start
) -> AsyncIterator[ServerSentEvent]:
    """The caller's own in-app notifications, live, as Server-Sent Events.

    First `event: ready` with the stream's starting point as its `id` (so that a client that
    reconnects before any notification misses nothing); then one `event: notification` per
    notification, `data` the notification with its `ack_url`, `id` its place in the stream.
    Reconnect with the header `Last-Event-ID` (or `?last_event_id=`) to get everything after
    that event, none twice; without it the stream starts now (the backlog is
    `GET /api/v1/notifications?person_id=me&channel=in_app`: connect first, then list, and
    show each notification once by its id). A comment line every 15 s keeps proxies from
    closing an idle stream. It ends when the caller's token expires or their account is
    disabled; the client reconnects with a fresh token."""
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    loop = asyncio.get_running_loop()
    recheck_at = loop.time() + settings.stream_recheck_s
    cursor = start
    STREAMS_OPEN.inc()
    try:
        yield ServerSentEvent(
            event="ready", id=str(cursor), retry=RECONNECT_MS, data={"last_event_id": str(cursor)}
        )
        while True:
            try:
                if loop.time() >= recheck_at:
                    if not await still_admitted(request):
                        return
                    recheck_at = loop.time() + settings.stream_recheck_s
                batch = await read_after(sessions, person_id=caller.subject, after=cursor)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                # The database is away: end the stream rather than hold a client that gets
                # nothing. It reconnects (after `retry`) with its last event's id: nothing lost.
                log.warning("notification_stream_read_failed", exc_info=True)
                return
            STREAM_READS.inc()
            for row in batch.rows:
                event = NotificationEvent(
                    **NotificationRead.model_validate(row).model_dump(),
                    ack_url=ack_url(row.notification_id),
                )
                yield ServerSentEvent(event="notification", id=str(Cursor.of(row)), data=event)
            cursor = batch.cursor
            if not batch.more:
                await asyncio.sleep(settings.stream_poll_s)
    finally:
        STREAMS_OPEN.dec()
