"""The dispatcher: a background worker that sends due notifications through their channels.

Each round claims a batch in one short transaction (pending -> sending, with a lease, FOR UPDATE
SKIP LOCKED so several dispatchers share the work), sends outside any transaction, then settles
the batch, logs every attempt and stages its events in a second one. If the process dies in
between, the rows come back when their lease ends and are sent again; the channel's idempotency
key makes that resend harmless. Before each send it asks the provider's circuit breaker: while
it is open nothing is sent, the attempt is logged short-circuited and fails (an alarm's SMS then
falls back to voice). It wakes when the consumer commits new notifications, when a round
inserted voice fallbacks, and polls as a fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.background import BackgroundTask
from riskwatch.common.retry import backoff
from riskwatch.notify.notifications.breaker import BreakerPolicy, CircuitBreakers
from riskwatch.notify.notifications.channels import Channel, Outgoing, request_summary
from riskwatch.notify.notifications.domain import ChannelKind
from riskwatch.notify.notifications.providers.base import SendError
from riskwatch.notify.notifications.service import (
    Outcome,
    RetryPolicy,
    claim_due,
    record_outcomes,
    renew_leases,
)

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
        breakers: CircuitBreakers | None = None,
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
        # One breaker per provider, on the dispatcher's clock (tests move both together).
        self.breakers = breakers or CircuitBreakers(
            BreakerPolicy(failures=5, cool_down=timedelta(seconds=30)), clock=clock
        )
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
            fallbacks = await record_outcomes(
                session, outcomes=outcomes, now=self._clock(), retry=self._retry
            )
        if fallbacks:
            self.wake()  # the voice calls standing in for SMS given up are due now
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
        channel = self._channels.get(notification.channel)
        request = request_summary(notification)
        if channel is None:
            return Outcome(
                notification.notification_id,
                notification.attempt,
                error=f"no {notification.channel.value} channel configured",
                retryable=False,
                provider="none",
                request=request,
            )
        provider = channel.provider
        base = Outcome(
            notification.notification_id, notification.attempt, provider=provider, request=request
        )
        if not self.breakers.allow(provider):
            return replace(
                base,
                error=f"{provider} is failing (circuit open): nothing sent",
                short_circuited=True,
                provider_down=True,
            )
        started = time.monotonic()
        try:
            receipt = await asyncio.wait_for(channel.send(notification), self._send_timeout_s)
        except SendError as exc:
            return self._failed(base, str(exc), started, provider_fault=exc.retryable)
        except TimeoutError:
            return self._failed(base, f"no answer within {self._send_timeout_s:g} s", started)
        except Exception as exc:
            log.exception(
                "channel_error",
                channel=notification.channel.value,
                notification_id=notification.notification_id,
            )
            return self._failed(base, f"unexpected {type(exc).__name__}", started)
        self.breakers.succeeded(provider)
        return replace(base, receipt=receipt, latency_ms=_ms_since(started))

    def _failed(
        self, base: Outcome, error: str, started: float, *, provider_fault: bool = True
    ) -> Outcome:
        """A failed send. Only the provider's faults (unreachable, 5xx, throttling, timeouts)
        count against its breaker; an error about the message (a bad number, a template the
        platform refuses) came from a provider that answered, and is not retried."""
        if provider_fault:
            self.breakers.failed(base.provider)
        else:
            self.breakers.succeeded(base.provider)
        return replace(
            base,
            error=error,
            retryable=provider_fault,
            latency_ms=_ms_since(started),
            provider_down=self.breakers.is_open(base.provider),
        )

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


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
