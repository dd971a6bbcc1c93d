"""What only the in-process bus needs: trimming consumed records, and `is_consumed`, which the
outbox relies on in embedded mode."""

from __future__ import annotations

from riskwatch.common.bus import MemoryBus, Record


async def test_is_consumed_waits_for_every_subscribed_group() -> None:
    bus = MemoryBus(default_partitions=1)
    a = bus.consumer_client(group="a", topics=["t"])
    b = bus.consumer_client(group="b", topics=["t"])
    await a.start()
    await b.start()
    [position] = await bus.publish([Record(topic="t", key="k", value=b"1")])
    assert not bus.is_consumed(position)
    batch = await a.fetch(max_records=10, timeout_s=0.1)
    await a.commit({("t", 0): batch[("t", 0)][-1].offset + 1})
    assert not bus.is_consumed(position)  # b has not committed yet
    batch = await b.fetch(max_records=10, timeout_s=0.1)
    await b.commit({("t", 0): batch[("t", 0)][-1].offset + 1})
    assert bus.is_consumed(position)


async def test_consumed_records_are_trimmed_and_offsets_keep_counting() -> None:
    bus = MemoryBus(default_partitions=1)
    client = bus.consumer_client(group="g", topics=["t"])
    await client.start()
    await bus.publish([Record(topic="t", key="k", value=str(i).encode()) for i in range(3000)])
    seen = 0
    while seen < 3000:
        batch = await client.fetch(max_records=500, timeout_s=0.1)
        messages = batch[("t", 0)]
        seen += len(messages)
        await client.commit({("t", 0): messages[-1].offset + 1})
    assert len(bus.records("t")) < 1024  # the consumed prefix was dropped
    [pos] = await bus.publish([Record(topic="t", key="k", value=b"next")])
    assert pos.offset == 3000
    batch = await client.fetch(max_records=10, timeout_s=0.1)
    assert [m.value for m in batch[("t", 0)]] == [b"next"]


async def test_a_commit_from_before_a_rebalance_is_refused() -> None:
    bus = MemoryBus(default_partitions=2)
    first = bus.consumer_client(group="g", topics=["t"])
    await first.start()
    await bus.publish([Record(topic="t", key=f"k{i}", value=b"x") for i in range(10)])
    batch = await first.fetch(max_records=100, timeout_s=0.1)
    second = bus.consumer_client(group="g", topics=["t"])
    await second.start()  # rebalance: first's in-flight batch is no longer its to commit
    await first.commit({tp: msgs[-1].offset + 1 for tp, msgs in batch.items()})
    again = await second.fetch(max_records=100, timeout_s=0.1)
    assert again, "the new owner must get the uncommitted records again"
