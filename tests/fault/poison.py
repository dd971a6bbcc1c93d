"""Poison records for alerting's readings topic, and reading them back from its dead letters.

The records go straight to `rw.construction.readings` with aiokafka, as a broken or hostile
producer would put them there: bytes that are no event at all, CloudEvents headers that are not
UTF-8, a well-formed event of a type nobody knows, and the readings type with a payload that is
not one. Each carries the case's marker in its value, which the dead-letter record keeps.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

READINGS_TYPE = "rw.readings.accepted.v2"


@dataclass(frozen=True)
class DeadLetter:
    value: bytes
    headers: dict[str, bytes]


def _ce(type_: str) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_source", b"/fault-suite/poison"),
        ("ce_type", type_.encode()),
        ("ce_time", datetime.now(UTC).isoformat().encode()),
        ("content-type", b"application/json"),
    ]


def poison_records(marker: str) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    """(value, headers) of each poison record; every value contains `marker`."""
    tag = marker.encode()
    return [
        (b"\x00\xff not an event " + tag, []),
        (b"garbage " + tag, [("ce_specversion", b"\xff\xfe")]),
        (b'{"marker": "' + tag + b'"}', _ce("rw.fault.unknown.v1")),
        (b'{"marker": "' + tag + b'", "n": 2}', _ce("rw.fault.unknown.v1")),
        (b'{"marker": "' + tag + b'"}', _ce(READINGS_TYPE)),
        (b"[1, 2, " + tag, _ce(READINGS_TYPE)),
    ]


async def produce_poison(bootstrap: str, topic: str, marker: str) -> int:
    """Put the poison records on `topic`, spread over its partitions; how many."""
    records = poison_records(marker)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(topic))
        for i, (value, headers) in enumerate(records):
            await producer.send_and_wait(
                topic, value, headers=headers, partition=partitions[i % len(partitions)]
            )
    finally:
        await producer.stop()
    return len(records)


async def dead_letters(bootstrap: str, topic: str, marker: str) -> list[DeadLetter]:
    """Every record of dead-letter `topic` whose value contains `marker` (none if the topic
    does not exist yet)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: list[DeadLetter] = []
    try:
        if topic not in await consumer.topics():
            return []
        consumer.subscribe([topic])  # no group: every partition is assigned to us
        for _ in range(300):  # the assignment comes with the next metadata (30 s at most)
            if consumer.assignment():
                break
            await asyncio.sleep(0.1)
        parts = sorted(consumer.assignment())
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        todo = {tp for tp in parts if end[tp] > 0}
        while todo:
            batch = await consumer.getmany(*todo, timeout_ms=2000)
            if not batch:
                break
            for tp, records in batch.items():
                found.extend(
                    DeadLetter(r.value, dict(r.headers))
                    for r in records
                    if r.value is not None and marker.encode() in r.value
                )
                if await consumer.position(tp) >= end[tp]:
                    todo.discard(tp)
    finally:
        await consumer.stop()
    return found
