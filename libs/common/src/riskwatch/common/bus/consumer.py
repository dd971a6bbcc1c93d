"""Commit-after-processing consumption in batches, with a dead-letter topic per group.

Each fetch hands the handler, partition by partition, every record that decoded, in offset
order: one unit of work (one database transaction in the Inbox handlers). Offsets are committed
only after the handler returns, so a crash delivers the batch again and handlers must be
idempotent. A record that cannot be decoded (by `decode`, or the consumer's own decoder for a
topic that others write) goes to `rw.dlq.<group>` at once. A batch that fails:
- for a transient cause (database or broker away) is retried whole, with capped backoff, for as
  long as the cause lasts;
- for any other cause is split in halves, each handled on its own (first half first, so per-key
  order holds), until the failing record is alone; it is retried up to `max_attempts`, then
  dead-lettered. The rest of the batch takes effect once: the failed attempts rolled back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

import structlog

from riskwatch.common import metrics
from riskwatch.common.background import Health, run_supervised
from riskwatch.common.bus.base import BatchHandler, Bus, ConsumerClient, Delivery, Message, Record
from riskwatch.common.events.base import EventPayload
from riskwatch.common.events.envelope import Envelope, Headers, PoisonMessage, decode
from riskwatch.common.events.topics import dlq_topic
from riskwatch.common.retry import backoff, failure_reason, is_transient
from riskwatch.common.settings import ConsumerSettings

log = structlog.get_logger(__name__)

# Turns a record into an event, or raises PoisonMessage with the reason it cannot be one.
Decoder = Callable[[Headers, bytes | None], Envelope[EventPayload]]


class EventConsumer:
    def __init__(
        self,
        client: ConsumerClient,
        *,
        bus: Bus,
        group: str,
        handler: BatchHandler,
        settings: ConsumerSettings,
        decoder: Decoder = decode,
    ) -> None:
        self._client = client
        self._decode = decoder
        self._bus = bus
        self.group = group
        self._handler = handler
        self._settings = settings
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._busy = False  # handling a batch (as opposed to waiting for one)
        self.last_error: str | None = None
        self.health = Health()

    def assignment(self) -> set[tuple[str, int]]:
        """The partitions this member holds now (empty while the group rebalances)."""
        return self._client.assignment()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        await self._client.start()
        self._task = asyncio.create_task(
            run_supervised(
                f"consumer:{self.group}", self._run, stopping=self._stopping, health=self.health
            ),
            name=f"consumer:{self.group}",
        )

    async def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in hand (up to `timeout`), commit it, then leave the group."""
        self._stopping.set()
        if self._task is not None:
            if not self._busy:
                self._task.cancel()  # only waiting for records: nothing to finish
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        await self._client.stop()

    async def abort(self) -> None:
        """Stop at once without committing: what a crash looks like to the group."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._client.stop()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                batches = await self._client.fetch(
                    max_records=self._settings.batch_max_records, timeout_s=0.5
                )
                self._busy = True
                for tp, messages in batches.items():
                    await self._consume(messages)
                    await self._client.commit({tp: messages[-1].offset + 1})
            except asyncio.CancelledError:
                if self._stopping.is_set():
                    return
                raise
            except Exception as exc:
                # Only the transport itself gets here (fetch/commit); back off and go on.
                self.last_error = f"{type(exc).__name__}"
                log.warning(
                    "consumer_loop_error",
                    group=self.group,
                    error_type=type(exc).__name__,
                    exc_info=True,
                )
                await self._sleep(1.0)
            finally:
                self._busy = False

    async def _consume(self, messages: Sequence[Message]) -> None:
        """Decode one partition's records and handle those that decoded as one batch."""
        batch: list[Delivery] = []
        for message in messages:
            try:
                batch.append(Delivery(self._decode(message.headers, message.value), message))
            except PoisonMessage as exc:
                metrics.EVENTS_CONSUMED.labels(self.group, "unparseable", "dead").inc()
                await self._dead_letter(message, reason=str(exc), attempts=0)
        if batch:
            started = time.perf_counter()
            await self._handle(batch)
            metrics.BATCH_SECONDS.labels(self.group).observe(time.perf_counter() - started)
            metrics.BATCH_SIZE.labels(self.group).observe(len(batch))

    async def _handle(self, batch: Sequence[Delivery]) -> None:
        """Apply `batch` once: retry transient failures, isolate a failing record by halves."""
        attempt = 0  # failures that were not transient
        transient_attempt = 0
        while True:
            try:
                await self._handler(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = type(exc).__name__
                if self._stopping.is_set():
                    raise  # shutting down: leave it uncommitted, it comes again next time
                if is_transient(exc):
                    transient_attempt += 1
                    delay = backoff(
                        transient_attempt,
                        initial=self._settings.backoff_initial_s,
                        maximum=self._settings.backoff_max_s,
                    )
                    log.warning(
                        "handler_error",
                        group=self.group,
                        transient=True,
                        batch=len(batch),
                        retry_in_s=delay,
                        error_type=type(exc).__name__,
                    )
                    await self._sleep(delay)
                    continue
                if len(batch) > 1:
                    # Something in here fails on its own: find it without redoing the rest.
                    half = len(batch) // 2
                    log.info(
                        "batch_split", group=self.group, batch=len(batch), error=type(exc).__name__
                    )
                    await self._handle(batch[:half])
                    await self._handle(batch[half:])
                    return
                attempt += 1
                if await self._give_up(batch[0], exc, attempt):
                    return
                continue
            for delivery in batch:
                metrics.EVENTS_CONSUMED.labels(self.group, delivery.envelope.type, "ok").inc()
            self.last_error = None
            return

    async def _give_up(self, delivery: Delivery, exc: Exception, attempt: int) -> bool:
        """Dead-letter a lone failing record after `max_attempts`; else wait and say retry."""
        envelope = delivery.envelope
        bound = structlog.contextvars.bound_contextvars(
            event_id=envelope.id, event_type=envelope.type, consumer_group=self.group
        )
        with bound:
            if attempt >= self._settings.max_attempts:
                log.error("handler_gave_up", attempts=attempt, exc_info=exc)
                metrics.EVENTS_CONSUMED.labels(self.group, envelope.type, "dead").inc()
                await self._dead_letter(
                    delivery.message,
                    reason=failure_reason(exc),
                    attempts=attempt,
                )
                return True
            delay = backoff(
                attempt,
                initial=self._settings.backoff_initial_s,
                maximum=self._settings.backoff_max_s,
            )
            log.warning(
                "handler_error",
                attempt=attempt,
                retry_in_s=delay,
                transient=False,
                error_type=type(exc).__name__,
                exc_info=exc,
            )
            await self._sleep(delay)
            return False

    async def _dead_letter(self, message: Message, *, reason: str, attempts: int) -> None:
        headers = [h for h in message.headers if not h[0].startswith("rw_dlq_")]
        headers += [
            ("rw_dlq_reason", reason.encode()[:1000]),
            ("rw_dlq_group", self.group.encode()),
            ("rw_dlq_topic", message.topic.encode()),
            ("rw_dlq_partition", str(message.partition).encode()),
            ("rw_dlq_offset", str(message.offset).encode()),
            ("rw_dlq_attempts", str(attempts).encode()),
        ]
        record = Record(
            topic=dlq_topic(self.group),
            key=message.key.decode(errors="replace") if message.key is not None else None,
            value=message.value or b"",
            headers=headers,
        )
        log.warning(
            "dead_lettered",
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            reason=reason,
        )
        metrics.DEAD_LETTERS.labels(self.group).inc()
        attempt = 0
        while True:  # a dead letter is never dropped: keep trying until the bus takes it
            attempt += 1
            try:
                await self._bus.publish([record])
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("dead_letter_publish_failed", attempt=attempt, exc_info=True)
                await asyncio.sleep(backoff(attempt, initial=0.2, maximum=5.0))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


def subscribe(
    bus: Bus,
    *,
    group: str,
    topics: Sequence[str],
    handler: BatchHandler,
    settings: ConsumerSettings | None = None,
    decoder: Decoder = decode,
) -> EventConsumer:
    """A consumer in `group` that hands each partition's decoded batch to `handler`, then
    commits; records that `decoder` refuses are dead-lettered with its reason."""
    return EventConsumer(
        bus.consumer_client(group=group, topics=topics),
        bus=bus,
        group=group,
        handler=handler,
        settings=settings or ConsumerSettings(),
        decoder=decoder,
    )
