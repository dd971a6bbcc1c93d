"""Tests for the KRaft Kafka broker: real producer/consumer round trips, restarts, jar cache."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from riskwatch.devstack._util import DevstackError
from riskwatch.devstack.kafka import (
    KAFKA_VERSION,
    KafkaBroker,
    ensure_jars,
    new_cluster_id,
    probe_metadata,
)
from riskwatch.devstack.pytest_plugin import ExternalKafka


async def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def _consume(
    bootstrap: str, topic: str, count: int
) -> list[tuple[bytes | None, bytes | None, int]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    got: list[tuple[bytes | None, bytes | None, int]] = []
    try:
        async with asyncio.timeout(30):
            while len(got) < count:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    got += [(r.key, r.value, r.partition) for r in records]
        await consumer.commit()
    finally:
        await consumer.stop()
    return got


async def test_idempotent_producer_consumer_round_trip(kafka_bootstrap: str) -> None:
    topic = f"devstack-rt-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    records = [(f"sensor-{i % 4}".encode(), json.dumps({"seq": i}).encode()) for i in range(40)]
    await _produce(kafka_bootstrap, topic, records)

    got = await _consume(kafka_bootstrap, topic, len(records))
    assert sorted((k, v) for k, v, _ in got) == sorted(records)
    # Same key, same partition, and per-key order preserved.
    by_key: dict[bytes | None, list[int]] = {}
    partitions: dict[bytes | None, set[int]] = {}
    for key, value, partition in got:
        assert value is not None
        by_key.setdefault(key, []).append(json.loads(value)["seq"])
        partitions.setdefault(key, set()).add(partition)
    assert all(len(p) == 1 for p in partitions.values())
    assert all(seqs == sorted(seqs) for seqs in by_key.values())


async def test_topics_are_auto_created_with_configured_partitions(kafka_bootstrap: str) -> None:
    topic = f"devstack-auto-{uuid.uuid4().hex[:8]}"
    await _produce(kafka_bootstrap, topic, [(b"k", b"v")])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        partitions = await producer.partitions_for(topic)
    finally:
        await producer.stop()
    assert len(partitions) == 3


def test_metadata_probe_sees_the_broker(kafka_broker: KafkaBroker | ExternalKafka) -> None:
    host, _, port = kafka_broker.bootstrap_servers.rpartition(":")
    assert probe_metadata(host, int(port)) == 1
    with pytest.raises(OSError):
        probe_metadata("127.0.0.1", 1)  # nothing listens on port 1


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="rw-kafkatest-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_restart_after_kill_on_existing_data_dir(
    scratch: Path, kafka_broker: KafkaBroker | ExternalKafka
) -> None:
    # Depends on the session broker only so that the jars are known to be fetched.
    broker = KafkaBroker(scratch, heap="256m", num_partitions=1, die_with_parent=True)
    try:
        broker.start(timeout=120)
        port, cluster_meta = broker.port, (broker.log_dirs / "meta.properties").read_text()
        topic = "survivor"
        asyncio.run(_produce(broker.bootstrap_servers, topic, [(b"k", b"before-kill")]))
        broker.kill()
        assert not broker.is_running()

        broker.start(timeout=120)
        assert broker.is_running()
        assert broker.port == port
        # Not re-formatted: same cluster and directory ids.
        assert (broker.log_dirs / "meta.properties").read_text() == cluster_meta
        got = asyncio.run(_consume(broker.bootstrap_servers, topic, 1))
        assert [(k, v) for k, v, _ in got] == [(b"k", b"before-kill")]
        assert "Kafka Server started" in broker.broker_log.read_text()
    finally:
        broker.stop()
    assert not broker.is_running()


def test_start_failure_reports_the_broker_log(scratch: Path, kafka_broker: object) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        broker = KafkaBroker(scratch, port=taken, heap="256m")
        with pytest.raises(DevstackError, match="Kafka exited during startup") as info:
            broker.start(timeout=120)
    assert "--- " in str(info.value)
    assert "Address already in use" in str(info.value)
    assert not broker.is_running()


def test_ensure_jars_trusts_its_marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(DevstackError, match="mvn"):
        ensure_jars(tmp_path)
    root = tmp_path / f"kafka-{KAFKA_VERSION}"
    (root / ".complete").write_text("{}")
    with pytest.raises(DevstackError, match="mvn"):
        ensure_jars(tmp_path)  # a marker without the jars is not trusted
    (root / "lib").mkdir()
    (root / "lib" / f"kafka_2.13-{KAFKA_VERSION}.jar").write_bytes(b"")
    assert ensure_jars(tmp_path) == root / "lib"


def test_cluster_ids_look_like_kafkas() -> None:
    ids = {new_cluster_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 22 and "=" not in i for i in ids)
