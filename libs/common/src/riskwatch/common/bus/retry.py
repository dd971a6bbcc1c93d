"""Which failures are worth retrying, and how long to wait between attempts."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError


def is_transient(exc: BaseException) -> bool:
    """Failures of infrastructure (database, broker, network) rather than of the message.

    A consumer retries these without limit: dead-lettering every event while PostgreSQL
    restarts would turn a short outage into lost work.
    """
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, ConnectionError | TimeoutError | asyncio.TimeoutError):
        return True
    name = type(exc).__name__
    # asyncpg and aiokafka connection errors, without importing their internals here.
    return name in {
        "ConnectionDoesNotExistError",
        "CannotConnectNowError",
        "TooManyConnectionsError",
        "KafkaConnectionError",
        "NodeNotReadyError",
        "RequestTimedOutError",
        "NotLeaderForPartitionError",
    }


def backoff(attempt: int, *, initial: float, maximum: float) -> float:
    """Exponential backoff: initial, 2x, 4x, ... capped at maximum (attempt counts from 1).

    The exponent is capped too, so an outage of any length never overflows the arithmetic.
    """
    return float(min(maximum, initial * (2 ** min(max(0, attempt - 1), 32))))
