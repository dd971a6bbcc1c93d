"""The bare pipe: aiokafka alone, on the platform's broker, with the platform's record shape.

`producer` sends pre-built records with the settings of the platform's KafkaBus (idempotent,
acks=all, linger_ms=5, 1 MiB batches): each a ReadingsAccepted value with CloudEvents binary
headers, keyed by device id, built once with the platform's own codec (`record_for`) and sent
in rotation. `consumer` creates the topic (6 partitions, like rw.<sector>.readings), joins a
fresh group (round-robin assignor, manual commits after each fetch, 500 records per fetch, as
the platform's consumers do) and reads until it has them all. Neither decodes the values:
this is the transport's ceiling. Each prints one JSON line; bench/run.py combines them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

from riskwatch.common.bus import Record, record_for
from riskwatch.common.events import new_event
from riskwatch.common.events.base import DeviceRef
from riskwatch.common.events.readings import Reading, ReadingsAccepted
from riskwatch.common.settings import KafkaSettings


def build_records(
    *, topic: str, devices: int, readings_per_record: int, metric: str
) -> list[Record]:
    """One record per device, shaped exactly like ingest's (`ingest.readings.service._records`)."""
    now = datetime.now(UTC)
    records = []
    for i in range(devices):
        device_id = f"bench-gas-{i:05d}"
        event = new_event(
            ReadingsAccepted(
                batch_id="00000000-0000-4000-8000-000000000000",
                device=DeviceRef(
                    device_id=device_id,
                    sector_id="construction",
                    scenario_id="gas",
                    town_id="lujiazui",
                    village_id=None,
                    name=f"Bench gas well {i}",
                ),
                readings=[
                    Reading(metric=metric, value=1.234, ts=now + timedelta(microseconds=k))
                    for k in range(readings_per_record)
                ],
                received_at=now,
            ),
            source="/riskwatch/ingest",
            subject=device_id,
        )
        records.append(record_for(topic, event))
    return records


async def produce(args: argparse.Namespace) -> dict[str, Any]:
    kafka = KafkaSettings()  # the platform's defaults: linger_ms, max_batch_size, timeout
    records = build_records(
        topic=args.topic,
        devices=args.devices,
        readings_per_record=args.readings_per_record,
        metric=args.metric,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=args.bootstrap,
        client_id="rw-bench-bare",
        enable_idempotence=True,
        acks="all",
        linger_ms=kafka.linger_ms,
        max_batch_size=kafka.max_batch_size,
        request_timeout_ms=kafka.request_timeout_ms,
    )
    await producer.start()
    try:
        cpu0, first = _cpu(), time.time()
        futures = []
        n = len(records)
        for i in range(args.count):
            r = records[i % n]
            futures.append(
                await producer.send(
                    r.topic,
                    r.value,
                    key=r.key.encode() if r.key is not None else None,
                    headers=r.headers,
                )
            )
        await asyncio.gather(*futures)
        last = time.time()
        cpu1 = _cpu()
    finally:
        await producer.stop()
    return {
        "role": "producer",
        "records": args.count,
        "value_bytes": sum(len(r.value) for r in records) / len(records),
        "header_bytes": sum(len(k) + len(v) for r in records for k, v in r.headers) / len(records),
        "first_send_at": first,
        "last_ack_at": last,
        "cpu_seconds_self": cpu1 - cpu0,
    }


async def consume(args: argparse.Namespace) -> dict[str, Any]:
    admin = AIOKafkaAdminClient(bootstrap_servers=args.bootstrap, client_id="rw-bench-bare")
    await admin.start()
    try:
        await admin.create_topics([NewTopic(args.topic, args.partitions, 1)])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        client_id="rw-bench-bare",
        group_id=f"bench-bare-{args.topic}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        partition_assignment_strategy=(RoundRobinPartitionAssignor,),
    )
    await consumer.start()
    try:
        seen = 0
        while not consumer.assignment():
            batches = await consumer.getmany(timeout_ms=100, max_records=500)
            seen += sum(len(v) for v in batches.values())
        print("READY", flush=True)
        cpu0 = _cpu()
        first: float | None = None
        last = time.time()
        deadline = time.monotonic() + args.timeout
        while seen < args.count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            if not batches:
                continue
            now = time.time()
            if first is None:
                first = now
            for tp, msgs in batches.items():
                seen += len(msgs)
                await consumer.commit({tp: msgs[-1].offset + 1})
            last = now
        cpu1 = _cpu()
    finally:
        await consumer.stop()
    return {
        "role": "consumer",
        "records": seen,
        "first_receive_at": first,
        "last_receive_at": last,
        "cpu_seconds_self": cpu1 - cpu0,
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["producer", "consumer"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--readings-per-record", type=int, default=1)
    parser.add_argument("--metric", default="ch4_lel")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    action = produce if args.role == "producer" else consume
    try:
        import uvloop

        result = uvloop.run(action(args))
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        result = asyncio.run(action(args))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
