"""Which failures are worth retrying, how long to wait between attempts, and how to name a
failure in a dead-letter record.

A failure is classified by its cause, found anywhere in its chain (`__cause__`, `__context__`,
SQLAlchemy's `orig`): PostgreSQL's SQLSTATE first, then the driver's and the broker's own
classes. Transient causes are the infrastructure's (a connection lost, a server starting up or
recovering, resources exhausted, a serialization conflict); everything else is the message's.
"""

from __future__ import annotations

import errno
import random
from collections.abc import Iterator

from aiokafka.errors import KafkaError, KafkaTimeoutError
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.exc import InterfaceError as SAInterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# SQLSTATE prefixes of transient failures: 08 connection exception, 53 insufficient resources,
# 57P01-57P03 admin shutdown / crash shutdown / cannot connect now (recovery, failover),
# 40001 serialization failure, 40P01 deadlock detected.
TRANSIENT_SQLSTATES = ("08", "53", "57P01", "57P02", "57P03", "40001", "40P01")
_TRANSIENT_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
    }
)
# The exponent stops growing here: 2**32 times any initial delay is past every maximum.
_MAX_EXPONENT = 32


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception it wraps or was raised while handling, each once."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = (getattr(current, "orig", None), current.__cause__, current.__context__)
        todo.extend(n for n in nested if isinstance(n, BaseException))


def sqlstate_of(exc: BaseException) -> str | None:
    """The first SQLSTATE in `exc`'s chain (asyncpg's `sqlstate`, a DB-API `pgcode`)."""
    for cause in causes(exc):
        code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(code, str) and code:
            return code
    return None


def is_transient(exc: BaseException) -> bool:
    """A failure of infrastructure (database, broker, network) rather than of the message.

    Consumers retry these without limit and without counting them as attempts: dead-lettering
    events while PostgreSQL recovers would turn an outage into lost work.
    """
    code = sqlstate_of(exc)
    if code is not None:
        return code.startswith(TRANSIENT_SQLSTATES)
    for cause in causes(exc):
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, SAInterfaceError | PoolTimeoutError):
            return True  # the connection went away / no connection free in time
        if isinstance(cause, KafkaError):
            # A send that timed out waiting for a broker is the broker's failure, though
            # aiokafka does not mark it retriable.
            return bool(cause.retriable) or isinstance(cause, KafkaTimeoutError)
        if isinstance(cause, ConnectionError | TimeoutError):
            return True
        if isinstance(cause, OSError) and cause.errno in _TRANSIENT_ERRNOS:
            return True
    return False


def backoff(attempt: int, *, initial: float, maximum: float, jitter: bool = True) -> float:
    """Seconds to wait before attempt `attempt + 1` (attempt counts from 1): exponential,
    capped at `maximum`, with full jitter (uniform in [0, cap]) so that many consumers that
    failed together do not retry together. The exponent is capped too: no attempt count
    overflows the arithmetic."""
    cap = min(maximum, initial * 2.0 ** min(max(0, attempt - 1), _MAX_EXPONENT))
    # Not for security: spreading retries in time.
    return random.uniform(0.0, cap) if jitter else cap  # noqa: S311


def failure_reason(exc: BaseException) -> str:
    """What a dead-letter header or a log may say of a failure: the exception's class and, for
    the database, its SQLSTATE and driver class, never the SQL or the values it carried."""
    if isinstance(exc, StatementError):
        orig = exc.orig
        code = sqlstate_of(exc)
        driver = type(orig).__name__ if orig is not None else "unknown"
        return f"{type(exc).__name__} ({driver}{', SQLSTATE ' + code if code else ''})"
    return f"{type(exc).__name__}: {str(exc)[:300]}"
