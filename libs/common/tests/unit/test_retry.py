"""Failures are classified by their cause, wherever it sits in the chain: the driver's
SQLSTATE, the broker's retriable flag, the network; and a dead-letter reason says what failed
without the SQL or the values."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka.errors import (
    CommitFailedError,
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from riskwatch.common.retry import failure_reason, is_transient, sqlstate_of


def wrapped(orig: BaseException) -> DBAPIError:
    """What SQLAlchemy raises: a DBAPIError whose orig is the driver's error (the asyncpg
    adapter keeps asyncpg's exception as the cause of its own)."""
    adapter = Exception(str(orig))
    adapter.__cause__ = orig
    return OperationalError("SELECT secret FROM t WHERE x = $1", ("p4ssw0rd",), adapter)


@pytest.mark.parametrize(
    "orig",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),  # 57P03
        asyncpg.exceptions.AdminShutdownError("terminating connection"),  # 57P01
        asyncpg.exceptions.CrashShutdownError("crash"),  # 57P02
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),  # 08003
        asyncpg.exceptions.TooManyConnectionsError("too many clients"),  # 53300
        asyncpg.exceptions.SerializationError("could not serialize"),  # 40001
        asyncpg.exceptions.DeadlockDetectedError("deadlock"),  # 40P01
    ],
)
def test_database_failures_of_the_infrastructure_are_transient(orig: BaseException) -> None:
    assert is_transient(wrapped(orig))
    assert is_transient(orig)


@pytest.mark.parametrize(
    "orig",
    [
        asyncpg.exceptions.UniqueViolationError("duplicate key"),  # 23505
        asyncpg.exceptions.CharacterNotInRepertoireError("NUL"),  # 22021
        asyncpg.exceptions.UndefinedTableError("no such table"),  # 42P01
    ],
)
def test_database_failures_of_the_message_or_the_code_are_not(orig: BaseException) -> None:
    assert not is_transient(wrapped(orig))
    assert not is_transient(IntegrityError("INSERT ...", {}, orig))


def test_the_first_sqlstate_in_the_chain_decides() -> None:
    inner = asyncpg.exceptions.CannotConnectNowError("recovering")
    outer = RuntimeError("while handling the batch")
    outer.__cause__ = inner
    assert sqlstate_of(outer) == "57P03"
    assert is_transient(outer)


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (KafkaConnectionError(), True),
        (NotLeaderForPartitionError(), True),
        (KafkaTimeoutError(), True),  # the broker did not answer in time
        (CommitFailedError(), False),
        (MessageSizeTooLargeError(), False),
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (PoolTimeoutError("QueuePool limit reached"), True),
        (OSError(104, "Connection reset by peer"), True),
        (OSError(2, "No such file"), False),
        (ValueError("bad payload"), False),
        (KeyError("x"), False),
    ],
)
def test_broker_network_and_other_failures(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_a_dead_letter_reason_names_the_failure_without_sql_or_values() -> None:
    reason = failure_reason(wrapped(asyncpg.exceptions.UniqueViolationError("dup")))
    assert "SQLSTATE 23505" in reason
    assert "OperationalError" in reason
    assert "SELECT" not in reason
    assert "p4ssw0rd" not in reason
    assert failure_reason(ValueError("this one always fails")) == (
        "ValueError: this one always fails"
    )
