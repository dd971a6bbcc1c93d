"""The Kafka inbound parts of an ingest process (ADR 0022): for each sector it serves, the
topics (inbound, rejections, dead letters) and a consumer in the group ingest-inbound.<sector>.

None on the in-process bus (the embedded mode): nothing outside the process can publish there.
"""

from __future__ import annotations

from riskwatch.common.app import Named, Runtime
from riskwatch.common.bus import TopicSpec
from riskwatch.common.events.topics import dlq_topic
from riskwatch.ingest.inbound.consumer import inbound_consumer
from riskwatch.ingest.inbound.domain import InboundChannel
from riskwatch.ingest.readings.deps import readings_path
from riskwatch.ingest.settings import IngestSettings


def inbound_channels(runtime: Runtime, settings: IngestSettings) -> list[InboundChannel]:
    if not settings.inbound.enabled or not runtime.bus.durable:
        return []
    return [InboundChannel.of(s) for s in runtime.catalog.resolve_sectors(settings.sectors)]


def inbound_topics(runtime: Runtime, settings: IngestSettings) -> list[TopicSpec]:
    kafka = runtime.settings.kafka
    return [
        spec
        for channel in inbound_channels(runtime, settings)
        for spec in (
            # As many partitions as the readings topic: the inbound scales out as far.
            TopicSpec(channel.topic, kafka.readings_partitions),
            TopicSpec(channel.rejections, kafka.default_partitions),
            TopicSpec(dlq_topic(channel.group), 1),
        )
    ]


def inbound_components(runtime: Runtime, settings: IngestSettings) -> list[Named]:
    channels = inbound_channels(runtime, settings)
    if not channels:
        return []
    path = readings_path(runtime, settings)  # the HTTP and MQTT paths' own objects
    return [
        Named(
            "consumer",
            channel.group,
            inbound_consumer(
                runtime.bus,
                channel,
                path=path,
                max_readings=settings.inbound.max_readings_per_transaction,
                settings=runtime.settings.consumer,
            ),
        )
        for channel in channels
    ]
