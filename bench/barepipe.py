"""The bare pipe: aiokafka alone, on the platform's broker, with the platform's record shape.

`producer` sends pre-built records with the settings of the platform's KafkaBus (idempotent,
acks=all, linger_ms=5, 1 MiB batches), built once with the platform's own codec and placement
(`encode_readings_accepted`, `ce_headers`, `partition_for`, as `ingest.readings.service` does)
and sent in rotation. Shape `packed` is what ingest publishes: each request of `--batch-size`
readings becomes one record per partition holding that partition's devices. Shape `per-device`
is one record per device (the platform's record shape before ADR 0008). `consumer` creates the
topic (6 partitions, like rw.<sector>.readings), joins a fresh group (round-robin assignor,
manual commits after each fetch, 500 records per fetch, as the platform's consumers do) and
reads until it has them all. Neither decodes the values: this is the transport's ceiling. Each
prints one JSON line; bench/run.py combines them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

from riskwatch.common.bus import Record, partition_for
from riskwatch.common.events.base import DeviceRef
from riskwatch.common.events.envelope import ce_headers
from riskwatch.common.events.readings import (
    RawReading,
    ReadingsAccepted,
    device_json,
    encode_readings_accepted,
)
from riskwatch.common.settings import KafkaSettings


def build_records(args: argparse.Namespace) -> tuple[list[Record], list[int]]:
    """The records of enough requests to carry every device once, and each one's reading count."""
    now = datetime.now(UTC)
    per_device = args.readings_per_device
    devices_per_request = 1 if args.shape == "per-device" else max(1, args.batch_size // per_device)
    records: list[Record] = []
    readings: list[int] = []
    for first in range(0, args.devices, devices_per_request):
        packed: dict[int, list[tuple[Any, list[RawReading]]]] = {}
        for i in range(first, min(first + devices_per_request, args.devices)):
            device_id = f"{args.device_prefix}-{i:05d}"
            ref = DeviceRef(
                device_id=device_id,
                sector_id=args.sector,
                scenario_id=args.scenario,
                town_id="lujiazui",
                name=f"Bench gas well {i}",
            )
            rows = [
                (args.metric, 1.234, now + timedelta(microseconds=k), 0) for k in range(per_device)
            ]
            packed.setdefault(partition_for(device_id, args.partitions), []).append(
                (device_json(ref), rows)
            )
        batch_id = str(uuid.uuid4())
        for partition, devices in packed.items():
            records.append(
                Record(
                    topic=args.topic,
                    key=None,
                    partition=partition,
                    value=encode_readings_accepted(
                        batch_id=batch_id, received_at=now, devices=devices
                    ),
                    headers=ce_headers(
                        event_id=str(uuid.uuid4()),
                        source="/riskwatch/ingest",
                        type_=ReadingsAccepted.event_type,
                        time=now,
                        subject=batch_id,
                        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                    ),
                )
            )
            readings.append(sum(len(rows) for _, rows in devices))
    return records, readings


def planned(args: argparse.Namespace) -> tuple[list[Record], list[int], int]:
    """The records to send in rotation and how many sends carry at least `--count` readings."""
    records, readings = build_records(args)
    sends, carried = 0, 0
    while carried < args.count:
        carried += readings[sends % len(records)]
        sends += 1
    return records, readings, sends


async def produce(args: argparse.Namespace) -> dict[str, Any]:
    kafka = KafkaSettings()  # the platform's defaults: linger_ms, max_batch_size, timeout
    records, readings, sends = planned(args)
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
        for i in range(sends):
            r = records[i % n]
            headers = r.headers
            if args.unique_ids:  # consumers that deduplicate by event id see every send
                headers = [
                    ("ce_id", uuid.uuid4().hex.encode()) if k == "ce_id" else (k, v)
                    for k, v in headers
                ]
            futures.append(
                await producer.send(r.topic, r.value, headers=headers, partition=r.partition)
            )
        await asyncio.gather(*futures)
        last = time.time()
        cpu1 = _cpu()
    finally:
        await producer.stop()
    return {
        "role": "producer",
        "records": sends,
        "readings": sum(readings[i % n] for i in range(sends)),
        "value_bytes": sum(len(r.value) for r in records) / len(records),
        "header_bytes": sum(len(k) + len(v) for r in records for k, v in r.headers) / len(records),
        "first_send_at": first,
        "last_ack_at": last,
        "cpu_seconds_self": cpu1 - cpu0,
    }


async def consume(args: argparse.Namespace) -> dict[str, Any]:
    _, _, expected = planned(args)
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
        while seen < expected and time.monotonic() < deadline:
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
    parser.add_argument("--count", type=int, required=True, help="readings to move")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--shape", choices=["packed", "per-device"], default="packed")
    parser.add_argument("--batch-size", type=int, default=500, help="readings per request")
    parser.add_argument("--readings-per-device", type=int, default=1)
    parser.add_argument("--metric", default="ch4_lel")
    parser.add_argument("--sector", default="construction")
    parser.add_argument("--scenario", default="gas")
    parser.add_argument("--device-prefix", default="bench-gas")
    parser.add_argument(
        "--unique-ids", action="store_true", help="a new event id on every send (not rotated)"
    )
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
