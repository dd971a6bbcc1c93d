"""The consumer of one sector's inbound topic: records to events (or the dead-letter topic),
events to readings, on the common consumer runner.

The runner (riskwatch.common.bus.consumer, ADR 0007) hands over each partition's fetch and
commits its offsets only after the handler returned, that is after the acceptance
transactions committed; a record the decoder refuses goes to rw.dlq.<group> with the reason in
`rw_dlq_reason`, and the consumer goes on. Transient failures are retried by the runner; a
spent sector budget is waited for here (nothing is stored meanwhile, and the partition waits).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import structlog
from prometheus_client import Counter

from riskwatch.common.bus import Bus, Delivery, EventConsumer, subscribe
from riskwatch.common.bus.consumer import Decoder
from riskwatch.common.events.base import EventPayload
from riskwatch.common.events.envelope import Envelope, Headers, PoisonMessage
from riskwatch.common.settings import ConsumerSettings
from riskwatch.ingest.inbound.domain import InboundChannel, chunks, parse_record, readings_of
from riskwatch.ingest.inbound.service import Taken, take_events
from riskwatch.ingest.readings.admission import SectorOverBudget
from riskwatch.ingest.readings.service import ReadingsPath

log = structlog.get_logger(__name__)

EVENTS = Counter(
    "rw_inbound_events_total",
    "Records of sector systems' inbound topics by outcome: taken (their readings went through "
    "acceptance), repeated (an event taken before: skipped), dead_lettered (not a readings "
    "CloudEvent)",
    ["sector", "outcome"],
)
ACCEPTED = Counter(
    "rw_inbound_readings_accepted_total",
    "Readings of sector systems' events that passed acceptance (new or stored before)",
    ["sector"],
)
REJECTED = Counter(
    "rw_inbound_readings_rejected_total",
    "Readings of sector systems' events rejected, by reason",
    ["sector", "reason"],
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def inbound_decoder(sector: str, *, max_items: int) -> Decoder:
    """`parse_record` for the runner, counting what it refuses."""

    def decode(headers: Headers, value: bytes | None) -> Envelope[EventPayload]:
        try:
            return parse_record(headers, value, max_items=max_items)
        except PoisonMessage:
            EVENTS.labels(sector, "dead_lettered").inc()
            raise

    return decode


class InboundHandler:
    """The batch handler of one sector's consumer: consecutive events of up to
    `max_readings` readings per transaction."""

    def __init__(
        self,
        channel: InboundChannel,
        *,
        path: ReadingsPath,
        max_readings: int,
        clock: Callable[[], datetime] = _utcnow,
        on_taken: Callable[[Taken], None] | None = None,
    ) -> None:
        self._channel = channel
        self._path = path
        self._max_readings = max_readings
        self._clock = clock
        self._on_taken = on_taken

    async def __call__(self, batch: Sequence[Delivery]) -> None:
        events = [d.envelope for d in batch]
        for run in chunks(events, size=lambda e: len(readings_of(e)), limit=self._max_readings):
            taken = await self._take(run)
            self._report(taken)  # after the commit
            if self._on_taken is not None:
                self._on_taken(taken)

    async def _take(self, events: Sequence[Envelope[EventPayload]]) -> Taken:
        while True:
            try:
                async with self._path.sessions() as session, session.begin():
                    return await take_events(
                        session,
                        channel=self._channel,
                        events=events,
                        path=self._path,
                        now=self._clock(),
                    )
            except SectorOverBudget as exc:
                # Nothing stored; the offsets wait with the events (the runner commits after
                # this returns). Cancelled by a stop: the events come again after it.
                log.warning(
                    "inbound_batch_waiting",
                    sector=self._channel.sector,
                    events=len(events),
                    retry_in_s=exc.retry_after_s,
                )
                await asyncio.sleep(exc.retry_after_s)

    def _report(self, taken: Taken) -> None:
        sector = self._channel.sector
        EVENTS.labels(sector, "taken").inc(taken.events)
        EVENTS.labels(sector, "repeated").inc(taken.repeated)
        ACCEPTED.labels(sector).inc(taken.accepted)
        per_event: dict[tuple[str, str], list[str]] = {}
        for event, rejected in taken.rejected:
            REJECTED.labels(sector, rejected.reason).inc()
            per_event.setdefault((event.source, event.id), []).append(rejected.reason)
        for (source, ce_id), reasons in per_event.items():
            log.info(
                "inbound_readings_rejected",
                sector=sector,
                source=source,
                ce_id=ce_id,
                rejected=len(reasons),
                reasons=sorted(set(reasons)),
            )


def inbound_consumer(
    bus: Bus,
    channel: InboundChannel,
    *,
    path: ReadingsPath,
    max_readings: int,
    settings: ConsumerSettings,
    clock: Callable[[], datetime] = _utcnow,
    on_taken: Callable[[Taken], None] | None = None,
) -> EventConsumer:
    """The consumer of `channel`'s topic in its group."""
    return subscribe(
        bus,
        group=channel.group,
        topics=[channel.topic],
        handler=InboundHandler(
            channel, path=path, max_readings=max_readings, clock=clock, on_taken=on_taken
        ),
        settings=settings,
        decoder=inbound_decoder(channel.sector, max_items=path.max_items),
    )
