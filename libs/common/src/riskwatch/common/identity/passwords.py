"""argon2 off the event loop: hashing and verifying in a small pool of worker threads.

One verification costs tens of milliseconds of CPU and 64 MiB; done on the event loop, 16
clients sending wrong passwords stalled every request of the process (issue 7, section 7). The
pool is bounded, so a burst of logins queues for a thread instead of taking all the memory and
cores, and the loop keeps serving meanwhile (argon2-cffi releases the GIL while it works).
"""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

DEFAULT_WORKERS = 4


class PasswordHashing:
    def __init__(self, *, workers: int = DEFAULT_WORKERS, hasher: PasswordHasher | None = None):
        if workers < 1:
            raise ValueError("the hashing pool needs at least one worker")
        self.workers = workers
        self._hasher = hasher or PasswordHasher()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches; with no hash (an unknown user) it checks a dummy one,
        so that a wrong username costs as much as a wrong password and answers no sooner."""
        if password_hash is None:
            password_hash = await self._dummy_hash()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._verify, password_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(16))
        return self._dummy

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@cache
def shared_hashing(workers: int = DEFAULT_WORKERS) -> PasswordHashing:
    """The process's pool: the bound holds for every app and seed in the process."""
    return PasswordHashing(workers=workers)
