"""The dispatcher: a background worker that sends due notifications through their channels.

Each round claims a batch in one short transaction (pending -> sending, with a lease, FOR UPDATE
SKIP LOCKED so several dispatchers share the work), sends outside any transaction, then settles
the batch and stages its events in a second one. If the process dies in between, the rows come
back when their lease ends and are sent again; the channel's idempotency key makes that resend
harmless. It wakes when the consumer commits new notifications and polls as a fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.background import BackgroundTask
from riskwatch.common.retry import backoff
from riskwatch.notify.notifications.channels import Channel, Outgoing
from riskwatch.notify.notifications.domain import ChannelKind
from riskwatch.notify.notifications.service import (
    Outcome,
    RetryPolicy,
    claim_due,
    record_outcomes,
    renew_leases,
)
from riskwatch.notify.notifications.sms import SendError

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Dispatcher(BackgroundTask):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        channels: Mapping[ChannelKind, Channel],
        *,
        retry: RetryPolicy,
        batch_size: int = 100,
        poll_interval_s: float = 1.0,
        send_timeout_s: float = 15.0,
        lease_s: float = 10.0,
        clock: Clock = _utcnow,
    ) -> None:
        super().__init__("notify-dispatcher")
        self._sessions = sessions
        self._channels = channels
        self._retry = retry
        self._batch = batch_size
        self._poll = poll_interval_s
        self._send_timeout_s = send_timeout_s
        self._lease_s = lease_s
        self._clock = clock
        self.rounds = 0  # completed rounds of the loop, for readiness checks and tests

    async def _closed(self) -> None:
        for channel in self._channels.values():
            await channel.aclose()

    async def run_once(self) -> int:
        """One round: claim, send, settle. Returns how many notifications it attempted."""
        async with self._sessions() as session, session.begin():
            claimed = await claim_due(
                session, now=self._clock(), limit=self._batch, lease_s=self._lease_s
            )
        if not claimed:
            return 0
        heartbeat = asyncio.create_task(self._keep_leases(claimed), name="notify-lease")
        try:
            outcomes = await asyncio.gather(*(self._send(n) for n in claimed))
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        async with self._sessions() as session, session.begin():
            await record_outcomes(session, outcomes=outcomes, now=self._clock(), retry=self._retry)
        return len(claimed)

    async def _keep_leases(self, claimed: list[Outgoing]) -> None:
        """Renew the claimed rows' lease every third of it while their sends run: a live
        dispatcher keeps them however long a gateway takes, a dead one loses them within one
        lease, and another dispatcher takes them over."""
        held = {n.notification_id: n.attempt for n in claimed}
        while True:
            await asyncio.sleep(self._lease_s / 3)
            try:
                async with self._sessions() as session, session.begin():
                    await renew_leases(session, held=held, now=self._clock(), lease_s=self._lease_s)
            except Exception:
                # The sends go on; at worst another dispatcher retries one after the lease,
                # and the provider deduplicates it by its idempotency key.
                log.warning("lease_renewal_failed", exc_info=True)

    async def _send(self, notification: Outgoing) -> Outcome:
        def failed(error: str, *, retryable: bool = True) -> Outcome:
            return Outcome(
                notification.notification_id, notification.attempt, error=error, retryable=retryable
            )

        channel = self._channels.get(notification.channel)
        if channel is None:
            return failed(f"no {notification.channel.value} channel configured", retryable=False)
        try:
            receipt = await asyncio.wait_for(channel.send(notification), self._send_timeout_s)
        except SendError as exc:
            return failed(str(exc), retryable=exc.retryable)
        except TimeoutError:
            return failed(f"no answer within {self._send_timeout_s:g} s")
        except Exception as exc:
            log.exception(
                "channel_error",
                channel=notification.channel.value,
                notification_id=notification.notification_id,
            )
            return failed(f"unexpected {type(exc).__name__}")
        return Outcome(notification.notification_id, notification.attempt, receipt=receipt)

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            self._wake.clear()  # before looking, so a wake-up during the round is not lost
            try:
                attempted = await self.run_once()
                failures = 0
                self.rounds += 1
            except Exception:
                failures += 1
                log.warning("dispatcher_error", failures=failures, exc_info=True)
                await self._sleep(backoff(failures, initial=0.2, maximum=5.0))
                continue
            if attempted < self._batch:
                await self._sleep(self._poll)
