"""The embedded platform's PostgreSQL: every connection proves a password, and the services are
not its superuser (docs/adr/0016-http-hardening.md).

The cluster in RW_DATA_DIR/pg asks every connection for a password (SCRAM-SHA-256). Its
superuser `postgres` has one generated at the first start, kept in RW_DATA_DIR/postgres-password
(0600); the migrations, and the audit trail's housekeeping (only the owner of audit.record may
make and drop its partitions), connect as it. The services connect as `riskwatch`: it may log
in and nothing more (no superuser, CREATEDB, CREATEROLE, replication), reads and writes the
tables of the service schemas, and reaches the audit trail only through `riskwatch_service`
(SELECT and INSERT: it cannot UPDATE, DELETE or TRUNCATE a record). Its password is kept in
RW_DATA_DIR/riskwatch-db-password (0600). A data dir made by an earlier version, which trusted
every local connection, is switched over at start (`PostgresServer` sets the superuser's
password and rewrites pg_hba.conf; `grant_services` makes the role).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from riskwatch.common.audit.models import SCHEMA as AUDIT_SCHEMA
from riskwatch.common.audit.models import SERVICE_ROLE as AUDIT_ROLE
from riskwatch.common.dbroles import grant_services_sql
from riskwatch.devstack._util import LOCALHOST
from riskwatch.devstack.pgserver import DEFAULT_DRIVER, PostgresServer, run_sql

DATABASE = "riskwatch"
SERVICES_ROLE = "riskwatch"
SUPERUSER_PASSWORD_FILE = "postgres-password"  # noqa: S105 - a file name
SERVICES_PASSWORD_FILE = "riskwatch-db-password"  # noqa: S105 - a file name


def stored_secret(path: Path) -> str:
    """A random secret kept in `path`, made on first use; the file is only its owner's."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        path.chmod(0o600)  # one made by hand, or before this was checked
    else:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(secrets.token_urlsafe(32))
    secret = path.read_text(encoding="utf-8").strip()
    if not secret:
        raise ValueError(f"{path} is empty: remove it only with the PostgreSQL data beside it")
    return secret


def postgres_server(data_dir: Path) -> PostgresServer:
    """The platform's cluster in `data_dir`/pg, its superuser's password in `data_dir`."""
    return PostgresServer(
        data_dir / "pg", password=stored_secret(data_dir / SUPERUSER_PASSWORD_FILE)
    )


def grant_services(pg: PostgresServer, data_dir: Path, *, database: str = DATABASE) -> str:
    """Make the services' role (or set it right: an earlier one may have had more), give it
    what the services need of every schema migrated so far, and return its URL. Run after the
    migrations, at every start: the tables they made since get their grants too. The statement
    is the one the distributed mode runs (riskwatch.common.dbroles)."""
    password = stored_secret(data_dir / SERVICES_PASSWORD_FILE)
    run_sql(
        pg.url(database, driver="postgresql"),
        grant_services_sql(
            role=SERVICES_ROLE, password=password, audit_role=AUDIT_ROLE, audit_schema=AUDIT_SCHEMA
        ),
    )
    return f"{DEFAULT_DRIVER}://{SERVICES_ROLE}:{password}@{LOCALHOST}:{pg.port}/{database}"
