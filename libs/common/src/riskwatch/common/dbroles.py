"""The services' database role: it logs in, reads and writes the tables of the service schemas,
and reaches the audit trail only as a member of its NOLOGIN role (SELECT, INSERT), while the
migrations and the audit trail's housekeeping connect as the owner (docs/adr/0016, 0012).

`grant_services_sql` is the one statement every mode runs as the owner after the migrations:
the embedded platform and devstack's `Stack` with psql, a cluster or compose with
`riskwatch-<service> grant-services` (`grant_services`). Standard library only at import:
devstack's PostgreSQL server imports `scram_verifier` from here in every test session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

SCRAM_ITERATIONS = 4096  # PostgreSQL's own default (scram_iterations)
# Migration Jobs run side by side, each granting after its own migration: they take turns on
# this transaction-level advisory lock (an arbitrary constant, "rw-grant" in ASCII).
GRANT_LOCK = 0x72772D6772616E74
# Lower case only: an unquoted name is folded to lower case, and the role goes into SQL as one.
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def scram_verifier(password: str, *, iterations: int = SCRAM_ITERATIONS) -> str:
    """What PostgreSQL stores for `password` under SCRAM-SHA-256 (RFC 5802, RFC 7677). A role
    given this (`ALTER ROLE ... PASSWORD '<verifier>'`) has the password, while the password
    itself appears in no command line, statement or server log. ASCII passwords only: a
    non-ASCII one would need SASLprep first."""
    if not password.isascii():
        raise ValueError("scram_verifier takes ASCII passwords only")
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def check_role_name(name: str) -> str:
    if not _ROLE.match(name):
        raise ValueError(f"unsafe role name {name!r}: lower-case letters, digits and _ only")
    return name


def grant_services_sql(*, role: str, password: str, audit_role: str, audit_schema: str) -> str:
    """One DO block, run as the owner of the schemas after their migrations (and again after
    every later migration: tables made since get their grants too). It makes `role`, or sets it
    right (an earlier one may have had more), with `password` as a SCRAM verifier; grants it
    USAGE and DML on the tables and sequences of every schema with an Alembic history but
    `audit_schema`, never its `alembic_version`; and makes it a member of `audit_role` once a
    migration made that. It refuses a `role` that is the owner itself or owns anything here:
    the triggers of the audit trail do not stop the owner, who may drop them."""
    for name in (role, audit_role):
        check_role_name(name)
    check_role_name(audit_schema)
    verifier = scram_verifier(password)
    if "$grant$" in verifier or "'" in verifier:  # cannot happen (base64); checked anyway
        raise ValueError("verifier does not fit the statement")
    # Names checked above; the verifier is base64 and digits.
    return f"""
DO $grant$
DECLARE
    schema_name text;
BEGIN
    PERFORM pg_advisory_xact_lock({GRANT_LOCK});
    IF current_user = '{role}' THEN
        RAISE EXCEPTION 'the services'' role {role} runs the migrations: give it another name';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
        CREATE ROLE {role};
    END IF;
    -- Only a superuser may name these attributes, even to take them away.
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        ALTER ROLE {role} NOSUPERUSER NOREPLICATION NOBYPASSRLS;
    END IF;
    ALTER ROLE {role} LOGIN NOCREATEDB NOCREATEROLE INHERIT PASSWORD '{verifier}';
    IF EXISTS (
        SELECT FROM pg_roles
        WHERE rolname = '{role}' AND (rolsuper OR rolreplication OR rolbypassrls)
    ) THEN
        -- A role another superuser made so, when the owner is none: it cannot undo that.
        RAISE EXCEPTION 'the services'' role {role} is a superuser or may replicate or bypass RLS';
    END IF;
    IF EXISTS (SELECT FROM pg_namespace WHERE nspowner = '{role}'::regrole)
        OR EXISTS (SELECT FROM pg_class WHERE relowner = '{role}'::regrole) THEN
        RAISE EXCEPTION 'the services'' role {role} owns schemas or tables in database %',
            current_database();
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{audit_role}') THEN
        GRANT {audit_role} TO {role};
    END IF;
    -- A service schema is one with its own Alembic history.
    FOR schema_name IN
        SELECT DISTINCT table_schema FROM information_schema.tables
        WHERE table_name = 'alembic_version' ORDER BY 1
    LOOP
        IF schema_name = '{audit_schema}' THEN
            -- The audit trail only through {audit_role}: whatever was granted directly goes.
            EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM {role}', schema_name);
            CONTINUE;
        END IF;
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO {role}', schema_name);
        EXECUTE format(
            'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO {role}',
            schema_name
        );
        EXECUTE format(
            'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO {role}', schema_name
        );
        -- Which migrations ran is the migrations' business.
        EXECUTE format('REVOKE ALL ON %I.alembic_version FROM {role}', schema_name);
    END LOOP;
END
$grant$
"""  # noqa: S608


def with_credentials(url: str, *, user: str, password: str) -> str:
    """`url` with another user and password; scheme, host, port, database and query kept."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def credentials_of(url: str) -> tuple[str, str]:
    """The user and password of a database URL (both required)."""
    parts = urlsplit(url)
    if not parts.username or parts.password is None:
        raise ValueError("the services' database URL must name its user and password")
    return unquote(parts.username), unquote(parts.password)


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (postgresql+asyncpg://) as libpq and asyncpg read it (postgresql://)."""
    parts = urlsplit(url)
    scheme = "postgresql" if parts.scheme.startswith("postgres") else parts.scheme
    return urlunsplit(parts._replace(scheme=scheme))


async def grant_services(
    owner_url: str, services_url: str, *, audit_role: str, audit_schema: str
) -> str:
    """Run `grant_services_sql` as the owner (`owner_url`) for the role and password of
    `services_url`; returns the role."""
    import asyncpg  # here: only the command needs the driver

    role, password = credentials_of(services_url)
    sql = grant_services_sql(
        role=role, password=password, audit_role=audit_role, audit_schema=audit_schema
    )
    conn = await asyncpg.connect(libpq_url(owner_url))
    try:
        await conn.execute(sql)  # no arguments: one simple query, one transaction
    finally:
        await conn.close()
    return role
