"""Dead letters on a real broker: a record a handler keeps failing on is listed with its
reason and origin, and replaying it after the fix applies it once, however often it is
replayed."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common import dlq
from riskwatch.common.bus import Delivery, TopicSpec, record_for, subscribe
from riskwatch.common.bus.kafka import KafkaBus
from riskwatch.common.events import EventPayload
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.settings import ConsumerSettings, KafkaSettings
from riskwatch.common.testing import eventually

from ..conftest import effects, inbox
from .test_contract import count_effects, event, seq_of


async def test_a_dead_letter_is_listed_and_replayed_once_after_the_fix(
    kafka_bootstrap: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    topic = f"rw.test.{uuid.uuid4().hex[:12]}"
    group = f"g-{uuid.uuid4().hex[:8]}"
    bus = KafkaBus(settings)
    await bus.start()
    fixed = False

    async def apply(session: AsyncSession, envelope: Envelope[EventPayload]) -> None:
        if seq_of(envelope).seq == 2 and not fixed:
            raise ValueError("a bug in this handler")
        await session.execute(effects.insert().values(event_id=envelope.id, note="applied"))

    idempotent = inbox.handler(sessions, group=group, handle=apply)

    async def handle(batch: Sequence[Delivery]) -> None:
        await idempotent(batch)

    consumer = subscribe(
        bus,
        group=group,
        topics=[topic],
        handler=handle,
        settings=ConsumerSettings(max_attempts=2, backoff_initial_s=0.01, backoff_max_s=0.05),
    )
    try:
        await bus.ensure_topics([TopicSpec(topic, 3), TopicSpec(f"rw.dlq.{group}", 1)])
        await consumer.start()
        sent = [event(f"dev-{i}", i) for i in range(5)]
        await bus.publish([record_for(topic, e) for e in sent])

        async def listed() -> list[dlq.DeadLetter]:
            return await dlq.read_dead_letters(settings, group)

        [letter] = await eventually(listed, timeout=60)
        assert letter.event_id == sent[2].id
        assert letter.reason.startswith("ValueError: a bug in this handler")
        assert (letter.original_topic, letter.attempts) == (topic, 2)
        assert letter.original_partition is not None
        assert f"rw.dlq.{group}" in await dlq.dead_letter_topics(settings)
        await eventually(lambda: _applied(sessions, 4), timeout=60)

        listing = await riskwatch_cli("dlq", "--bootstrap", kafka_bootstrap, "list")
        assert f"rw.dlq.{group}: 1 dead letter(s)" in listing
        assert f"offset {letter.offset}  rw.test.sequenced.v1 {sent[2].id}" in listing
        assert "ValueError: a bug in this handler" in listing

        fixed = True
        replayed = await riskwatch_cli(
            "dlq",
            "--bootstrap",
            kafka_bootstrap,
            "replay",
            "--group",
            group,
            "--offset",
            str(letter.offset),
        )
        assert replayed.strip() == f"replayed 1 dead letter(s) of {group}"
        assert await dlq.replay(settings, [letter]) == 1  # a second replay changes nothing
        await eventually(lambda: _applied(sessions, 5), timeout=60)
        await consumer.stop()
        assert await count_effects(sessions) == {e.id: 1 for e in sent}
        assert len(await dlq.read_dead_letters(settings, group)) == 1  # listing consumes nothing
    finally:
        await consumer.stop()
        await bus.stop()


async def _applied(sessions: async_sessionmaker[AsyncSession], n: int) -> bool:
    return sum((await count_effects(sessions)).values()) >= n


async def riskwatch_cli(*argv: str) -> str:
    """The `riskwatch` command as an operator runs it (a separate process)."""
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "riskwatch"),
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    return out.decode()
