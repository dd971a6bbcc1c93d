"""Ingest's MQTT subscriber: telemetry from the broker into the readings use case.

It subscribes with ingest's own account to `$share/<group>/rw/v1/+/telemetry` at QoS 1, so the
replicas of one group split the messages. The messages already received (at most
`max_messages_per_batch`) are handled as one batch, in one transaction, by the same
`accept_batch` as the HTTP path; each message is acknowledged (PUBACK) only after that
transaction committed. A replica that dies before then never acknowledged them: the broker
keeps them in the replica's persistent session (a stable client id, clean session off) and
sends them again when it reconnects; resent readings are duplicates, stored and published once.

A bad reading is rejected on its own with its reason (counted, logged); a message with nothing
to take (not JSON, not a reading or a list of them) is counted, logged and acknowledged: like a
422 on the HTTP path, nothing of it is kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiomqtt
import structlog
from prometheus_client import Counter

from riskwatch.common.background import BackgroundTask
from riskwatch.common.errors import Unavailable
from riskwatch.common.retry import backoff, failure_reason, is_transient
from riskwatch.ingest.mqtt.domain import Unparseable, device_of, parse_message, shared_filter
from riskwatch.ingest.mqtt.settings import MqttSettings
from riskwatch.ingest.readings.admission import SectorOverBudget
from riskwatch.ingest.readings.domain import Rejection
from riskwatch.ingest.readings.service import BatchResult, ReadingsPath

log = structlog.get_logger(__name__)

MESSAGES = Counter(
    "rw_mqtt_messages_total",
    "MQTT telemetry messages by outcome: handled (acknowledged after their readings were "
    "taken), unparseable (nothing to take), failed (a fault of ours, alone in its batch)",
    ["outcome"],
)
REJECTED = Counter(
    "rw_mqtt_readings_rejected_total", "Readings of MQTT messages rejected, by reason", ["reason"]
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class MessageOutcome:
    """What became of one message (for logs and tests)."""

    topic: str
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    unparseable: str | None = None


class _Stopping(Exception):
    pass


class TelemetrySubscriber(BackgroundTask):
    def __init__(
        self,
        settings: MqttSettings,
        *,
        password: str,
        path: ReadingsPath,
        clock: Callable[[], datetime] = _utcnow,
        ready: Callable[[], Awaitable[object]] | None = None,
        on_batch: Callable[[Sequence[MessageOutcome]], None] | None = None,
    ) -> None:
        super().__init__("mqtt-subscriber")
        self.settings = settings
        self._password = password
        self._path = path
        self._clock = clock
        self._ready = ready
        self._on_batch = on_batch
        # Set while subscribed (after the broker's SUBACK); cleared on a disconnect.
        self.subscribed = asyncio.Event()

    async def _run(self) -> None:
        if self._ready is not None:
            await self._ready()
        attempt = 0
        while not self.stopping:
            s = self.settings
            client = aiomqtt.Client(
                s.host,
                s.port,
                username=s.username,
                password=self._password,
                identifier=s.client_id,
                clean_session=False,  # the broker keeps what we have not acknowledged
                keepalive=30,
                max_inflight_messages=s.max_inflight,
            )
            # Acknowledge after the readings are taken, not on receipt (paho's manual ack).
            client._client.manual_ack_set(True)
            try:
                async with client:
                    await self._subscribe(client)
                    attempt = 0
                    await self._consume(client)
                    return
            except aiomqtt.MqttError as exc:
                self.subscribed.clear()
                if self.stopping:
                    return
                attempt += 1
                delay = backoff(attempt, initial=0.2, maximum=10.0)
                log.warning(
                    "mqtt_disconnected",
                    host=s.host,
                    port=s.port,
                    error=str(exc),
                    reconnect_in_s=round(delay, 2),
                )
                if await self._sleep(delay):
                    return
            except _Stopping:
                return
            finally:
                self.subscribed.clear()

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        topic = shared_filter(self.settings.share_group)
        granted = await client.subscribe(topic, qos=1)
        codes = [getattr(g, "value", g) for g in granted]
        if any(code not in (0, 1, 2) for code in codes):
            raise aiomqtt.MqttError(f"the broker refused the subscription to {topic}: {codes}")
        self.subscribed.set()
        log.info("mqtt_subscribed", topic=topic, client_id=self.settings.client_id)

    async def _consume(self, client: aiomqtt.Client) -> None:
        messages = client.messages
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            while True:
                following = asyncio.ensure_future(anext(messages))
                await asyncio.wait({following, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not following.done():
                    following.cancel()  # an unacknowledged message returns on reconnect
                    return
                batch = [following.result()]
                while len(batch) < self.settings.max_messages_per_batch and len(messages) > 0:
                    batch.append(await anext(messages))
                await self.handle(batch)
                for message in batch:
                    client._client.ack(message.mid, message.qos)
        finally:
            stop.cancel()

    async def handle(self, batch: Sequence[aiomqtt.Message]) -> list[MessageOutcome]:
        """Take a batch's readings (retrying while a dependency is down); raises _Stopping when
        the process stops first, leaving the batch unacknowledged."""
        outcomes = await self._handle(batch)
        if self._on_batch is not None:
            self._on_batch(outcomes)
        return outcomes

    async def _handle(self, batch: Sequence[aiomqtt.Message]) -> list[MessageOutcome]:
        try:
            return await self._take(batch)
        except _Stopping:
            raise
        except Exception as exc:
            if len(batch) > 1:  # each message alone: only the faulty one is left out
                return [o for message in batch for o in await self._handle([message])]
            # A fault of ours with this one message: logged with its cause and acknowledged,
            # rather than taken again after every restart (and the process failing for it).
            MESSAGES.labels("failed").inc()
            log.error(
                "mqtt_message_failed",
                topic=batch[0].topic.value,
                reason=failure_reason(exc),
                exc_info=exc,
            )
            return [MessageOutcome(batch[0].topic.value, unparseable="failed")]

    async def _take(self, batch: Sequence[aiomqtt.Message]) -> list[MessageOutcome]:
        outcomes = [MessageOutcome(m.topic.value) for m in batch]
        items: list[Any] = []
        origin: list[tuple[int, int]] = []  # (message, index in it) of each item
        for number, message in enumerate(batch):
            parsed = parse_message(
                message.topic.value, _payload(message.payload), max_items=self._path.max_items
            )
            if isinstance(parsed, Unparseable):
                outcomes[number].unparseable = parsed.reason
                continue
            outcomes[number].rejected.extend(parsed.refused)
            for index, item in parsed.items:
                items.append(item)
                origin.append((number, index))
        if items:
            result = await self._accept(items)
            for rejection in result.rejected:
                number, index = origin[rejection.index]
                outcomes[number].rejected.append(
                    Rejection(index, rejection.reason, rejection.detail)
                )
            _count_accepted(outcomes, origin, result)
        for outcome in outcomes:
            self._report(outcome)
        return outcomes

    async def _accept(self, items: list[Any]) -> BatchResult:
        path = self._path
        attempt = 0
        while True:
            try:
                async with path.sessions() as session, session.begin():
                    # The device is the topic's, which only it may use.
                    return await path.accept(session, items, now=self._clock())
            except SectorOverBudget as exc:
                delay: float = exc.retry_after_s
            except Exception as exc:
                if not (isinstance(exc, Unavailable) or is_transient(exc)):
                    raise
                attempt += 1
                delay = backoff(attempt, initial=0.2, maximum=10.0)
            # Held, not acknowledged: the broker sends this replica nothing beyond its
            # in-flight window meanwhile, and gives the rest to the other replicas.
            log.warning("mqtt_batch_waiting", readings=len(items), retry_in_s=round(delay, 2))
            if await self._sleep(delay):
                raise _Stopping

    def _report(self, outcome: MessageOutcome) -> None:
        device_id = device_of(outcome.topic)
        if outcome.unparseable is not None:
            MESSAGES.labels("unparseable").inc()
            log.info("mqtt_message_unparseable", device_id=device_id, reason=outcome.unparseable)
            return
        MESSAGES.labels("handled").inc()
        for rejection in outcome.rejected:
            REJECTED.labels(rejection.reason.value).inc()
            log.info(
                "mqtt_reading_rejected",
                device_id=device_id,
                index=rejection.index,
                reason=rejection.reason.value,
                detail=rejection.detail,
            )


def _count_accepted(
    outcomes: list[MessageOutcome], origin: list[tuple[int, int]], result: BatchResult
) -> None:
    """Spread the batch's counts over its messages: accepted is per item that passed; the
    duplicates of a batch are not per message, so they stay on the batch (first message)."""
    rejected = {r.index for r in result.rejected}
    for i, (number, _) in enumerate(origin):
        if i not in rejected:
            outcomes[number].accepted += 1
    if outcomes:
        outcomes[0].duplicates = result.duplicates


def _payload(payload: Any) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode()
    return b"" if payload is None else str(payload).encode()
