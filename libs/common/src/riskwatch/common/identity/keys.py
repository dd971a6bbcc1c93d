"""The issuer's signing keys: made, rotated, published and dropped, and held in memory.

Ed25519 key pairs live in `identity.signing_key`. The newest key whose activation has come signs;
a new one is published (JWKS) `publish_ahead` before it signs, so that services that cache the
key set (RW_AUTH__JWKS_CACHE_S) know it before they meet it; the one it replaces stays published
for `keep` after it stops signing (the longest a token lives), then is deleted. Every process
hosting the issuer reads the same rows, so replicas switch keys at the same instant.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.auth import LEEWAY_S, KeySet, KeysUnavailable, SigningKey
from riskwatch.common.identity.models import SigningKeyRecord
from riskwatch.common.settings import AuthSettings

log = structlog.get_logger(__name__)

# pg_advisory_xact_lock key: one process at a time decides on rotation.
_ROTATION_LOCK = 0x5257_4B45_5953  # "RWKEYS"
# How long a process uses the keys it read before reading them again.
REREAD_S = 60.0


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    rotation: timedelta  # a key signs this long, then the next takes over
    publish_ahead: timedelta  # a new key is published this long before it signs
    keep: timedelta  # a replaced key stays published this long

    @classmethod
    def of(cls, auth: AuthSettings) -> KeyPolicy:
        rotation = timedelta(days=auth.key_rotation_days)
        longest = max(auth.access_token_ttl_s, auth.session_max_s) + LEEWAY_S
        return cls(
            rotation=rotation,
            # Two cache periods: a service that fetched just before still refetches in time.
            publish_ahead=min(timedelta(seconds=2 * auth.jwks_cache_s), rotation / 2),
            keep=timedelta(seconds=longest),
        )


@dataclass(frozen=True, slots=True)
class KeyState:
    """What a process keeps of one row: the parsed key and its dates."""

    key: SigningKey
    public_jwk: dict[str, str]
    activated_at: datetime
    retired_at: datetime | None

    def signs_at(self, now: datetime) -> bool:
        return self.activated_at <= now and (self.retired_at is None or now < self.retired_at)

    def published_at(self, now: datetime, keep: timedelta) -> bool:
        return self.retired_at is None or now < self.retired_at + keep


# The store -----------------------------------------------------------------------------------


async def list_keys(session: AsyncSession) -> Sequence[SigningKeyRecord]:
    rows = await session.scalars(select(SigningKeyRecord).order_by(SigningKeyRecord.activated_at))
    return rows.all()


async def _add_key(session: AsyncSession, *, now: datetime, activated_at: datetime) -> str:
    key = SigningKey.generate()
    session.add(
        SigningKeyRecord(
            kid=key.kid,
            private_pem=key.private_pem(),
            public_jwk=key.public_jwk(),
            created_at=now,
            activated_at=activated_at,
            retired_at=None,
        )
    )
    await session.flush()
    return key.kid


async def maintain_keys(
    session: AsyncSession, *, policy: KeyPolicy, now: datetime, force: bool = False
) -> list[str]:
    """Make the first key, or the next one when the newest has signed for `policy.rotation`
    (at once with `force`), and delete keys no token can name any more. Returns what changed
    ("created <kid>", "dropped <kid>"). Concurrent callers wait for each other."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ROTATION_LOCK})
    done: list[str] = []
    keys = list(await list_keys(session))
    if not keys:
        done.append(f"created {await _add_key(session, now=now, activated_at=now)}")
        return done
    newest = keys[-1]
    if newest.activated_at <= now and (force or newest.activated_at <= now - policy.rotation):
        starts = now if force else now + policy.publish_ahead
        kid = await _add_key(session, now=now, activated_at=starts)
        # The keys signing until now stop when the new one starts.
        await session.execute(
            update(SigningKeyRecord)
            .where(SigningKeyRecord.kid != kid, SigningKeyRecord.retired_at.is_(None))
            .values(retired_at=starts)
        )
        done.append(f"created {kid}")
    dropped = await session.scalars(
        delete(SigningKeyRecord)
        .where(SigningKeyRecord.retired_at < now - policy.keep)
        .returning(SigningKeyRecord.kid)
    )
    done += [f"dropped {kid}" for kid in dropped]
    return done


# In memory -----------------------------------------------------------------------------------


class KeyRing:
    """The keys of the issuer as one process uses them: the signing key, the published set,
    and the `KeySet` its token service verifies with. Read again every `REREAD_S`, at once
    when a token names a key not yet read, and after `maintain` changed anything."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        policy: KeyPolicy,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self.policy = policy
        self._clock = clock
        self._monotonic = monotonic
        self._states: list[KeyState] = []
        self._parsed: dict[str, SigningKey] = {}
        self._read_at = -math.inf
        self.keyset = KeySet(self._published, name="identity", max_age_s=REREAD_S, min_reload_s=1)

    async def maintain(self, *, force: bool = False) -> list[str]:
        """`maintain_keys` in a transaction of its own; the periodic job of the module."""
        async with self._sessions() as session, session.begin():
            done = await maintain_keys(session, policy=self.policy, now=self._clock(), force=force)
        if done:
            log.info("signing_keys_changed", changes=done)
            await self.read()
            self.keyset.invalidate()
        return done

    async def read(self) -> None:
        async with self._sessions() as session:
            rows = await list_keys(session)
        states = []
        for row in rows:
            key = self._parsed.get(row.kid)
            if key is None:
                key = self._parsed[row.kid] = SigningKey.from_pem(row.kid, row.private_pem)
            states.append(KeyState(key, dict(row.public_jwk), row.activated_at, row.retired_at))
        self._states = states
        self._parsed = {s.key.kid: s.key for s in states}
        self._read_at = self._monotonic()

    async def _reread_if_old(self) -> None:
        if self._monotonic() - self._read_at < REREAD_S:
            return
        try:
            await self.read()
        except Exception as exc:  # go on with the keys read before: the database blinked
            if not self._states:
                raise KeysUnavailable("The signing keys cannot be read now.") from exc
            log.warning("signing_keys_read_failed", error_type=type(exc).__name__)

    async def signing_key(self) -> SigningKey:
        """The newest key whose activation has come."""
        await self._reread_if_old()
        now = self._clock()
        signing = [s for s in self._states if s.signs_at(now)]
        if not signing:
            raise KeysUnavailable("The issuer has no signing key yet.")
        return signing[-1].key

    async def jwks(self) -> dict[str, Any]:
        """The published public keys (GET /.well-known/jwks.json), as read last."""
        await self._reread_if_old()
        return self._document()

    async def _published(self) -> dict[str, Any]:
        await self.read()  # the key set asks only when a kid is unknown or its copy is old
        return self._document()

    def _document(self) -> dict[str, Any]:
        now = self._clock()
        return {
            "keys": [s.public_jwk for s in self._states if s.published_at(now, self.policy.keep)]
        }
