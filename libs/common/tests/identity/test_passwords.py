"""argon2 runs in a bounded pool of worker threads: the event loop keeps serving while 16
clients' passwords are verified, and no more than the pool's size run at once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Literal

from argon2 import PasswordHasher

from riskwatch.common.identity.passwords import PasswordHashing

CLIENTS = 16


async def ticks_while(work: Callable[[], Awaitable[object]]) -> int:
    """How many times a task that only yields ran on the loop while `work` was under way."""
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    ticks = 0
    try:
        await work()
    finally:
        done = True
        await task
    return ticks


class CountingHasher(PasswordHasher):
    """argon2, counting how many verifications run at the same time."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return super().verify(hash, password)
        finally:
            with self.lock:
                self.running -= 1


async def test_the_loop_keeps_serving_while_16_passwords_are_verified() -> None:
    hasher = CountingHasher()
    hashing = PasswordHashing(workers=4, hasher=hasher)
    try:
        stored = await hashing.hash("Correct-Horse-42")

        async def sixteen_in_the_pool() -> list[bool]:
            return await asyncio.gather(
                *(hashing.verify(stored, f"wrong-{i}") for i in range(CLIENTS))
            )

        async def sixteen_on_the_loop() -> list[bool]:  # what the issuer used to do
            async def one(i: int) -> bool:
                return hashing._verify(stored, f"wrong-{i}")

            return await asyncio.gather(*(one(i) for i in range(CLIENTS)))

        blocked = await ticks_while(sixteen_on_the_loop)
        served = await ticks_while(sixteen_in_the_pool)
    finally:
        hashing.close()
    # On the loop the ticker gets a turn between verifications at most; in the pool it runs
    # all along (argon2 releases the GIL): many times more turns, however fast the machine.
    assert blocked <= CLIENTS + 2
    assert served >= 10 * (blocked + CLIENTS)
    assert hasher.most <= 4  # bounded: the other twelve wait for a worker


async def test_verification_answers_right_and_wrong_and_unknown() -> None:
    hashing = PasswordHashing(workers=1)
    try:
        stored = await hashing.hash("Correct-Horse-42")
        assert await hashing.verify(stored, "Correct-Horse-42")
        assert not await hashing.verify(stored, "correct-horse-42")
        assert not await hashing.verify(None, "Correct-Horse-42")  # an unknown account
        assert not await hashing.verify("not-a-hash", "x")
    finally:
        hashing.close()
