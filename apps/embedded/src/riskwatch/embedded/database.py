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
from riskwatch.devstack._util import LOCALHOST
from riskwatch.devstack.pgserver import (
    DEFAULT_DRIVER,
    PostgresServer,
    run_sql,
    scram_verifier,
)

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
    migrations, at every start: the tables they made since get their grants too."""
    password = stored_secret(data_dir / SERVICES_PASSWORD_FILE)
    owner = pg.url(database, driver="postgresql")
    # The role's password goes in as its SCRAM verifier: never in clear text in a statement.
    run_sql(
        owner,
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{SERVICES_ROLE}') THEN
                CREATE ROLE {SERVICES_ROLE};
            END IF;
        END
        $$;
        ALTER ROLE {SERVICES_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
            NOBYPASSRLS INHERIT PASSWORD '{scram_verifier(password)}';
        """,
    )
    # A service schema is one with its own Alembic history; the audit trail is granted apart.
    listed = run_sql(
        owner,
        "SELECT DISTINCT table_schema FROM information_schema.tables "
        "WHERE table_name = 'alembic_version' ORDER BY 1",
    )
    statements = [f"GRANT {AUDIT_ROLE} TO {SERVICES_ROLE}"]
    for schema in listed.splitlines():
        if schema == AUDIT_SCHEMA:
            continue
        statements += [
            f'GRANT USAGE ON SCHEMA "{schema}" TO {SERVICES_ROLE}',
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" '
            f"TO {SERVICES_ROLE}",
            f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "{schema}" TO {SERVICES_ROLE}',
            # Which migrations ran is the migrations' business.
            f'REVOKE ALL ON "{schema}".alembic_version FROM {SERVICES_ROLE}',
        ]
    run_sql(owner, ";\n".join(statements))
    return f"{DEFAULT_DRIVER}://{SERVICES_ROLE}:{password}@{LOCALHOST}:{pg.port}/{database}"
