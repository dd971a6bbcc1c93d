"""riskwatch.common.dbroles without a database: the SCRAM verifier's shape, names refused before
they reach SQL, and the URLs the services' role is taken from and put into."""

from __future__ import annotations

import base64
import re

import pytest

from riskwatch.common.dbroles import (
    check_role_name,
    credentials_of,
    grant_services_sql,
    libpq_url,
    scram_verifier,
    with_credentials,
)

URL = "postgresql+asyncpg://postgres:owner@db.example:5432/riskwatch?ssl=require"


def test_the_verifier_has_postgresqls_shape_and_a_fresh_salt() -> None:
    verifier = scram_verifier("pencil")
    match = re.fullmatch(r"SCRAM-SHA-256\$4096:([^$]+)\$([^:]+):(.+)", verifier)
    assert match is not None
    salt, stored_key, server_key = (base64.b64decode(part) for part in match.groups())
    assert (len(salt), len(stored_key), len(server_key)) == (16, 32, 32)
    assert scram_verifier("pencil") != verifier  # another salt each time
    with pytest.raises(ValueError, match="ASCII"):
        scram_verifier("pâssword")


@pytest.mark.parametrize("name", ["", "Riskwatch", "risk-watch", "x; DROP ROLE postgres", "1st"])
def test_unsafe_role_names_never_reach_the_statement(name: str) -> None:
    with pytest.raises(ValueError, match="unsafe role name"):
        check_role_name(name)
    with pytest.raises(ValueError, match="unsafe role name"):
        grant_services_sql(
            role=name, password="p", audit_role="riskwatch_service", audit_schema="audit"
        )


def test_the_statement_holds_the_verifier_not_the_password() -> None:
    sql = grant_services_sql(
        role="riskwatch", password="s3cret-pw", audit_role="riskwatch_service", audit_schema="audit"
    )
    assert "s3cret-pw" not in sql
    assert "PASSWORD 'SCRAM-SHA-256$4096:" in sql
    assert sql.strip().startswith("DO $grant$")


def test_credentials_go_into_and_come_out_of_a_url() -> None:
    services = with_credentials(URL, user="riskwatch", password="p@ss:w/rd")
    assert services == (
        "postgresql+asyncpg://riskwatch:p%40ss%3Aw%2Frd@db.example:5432/riskwatch?ssl=require"
    )
    assert credentials_of(services) == ("riskwatch", "p@ss:w/rd")
    assert libpq_url(services).startswith("postgresql://riskwatch:")
    with pytest.raises(ValueError, match="user and password"):
        credentials_of("postgresql+asyncpg://riskwatch@db.example/riskwatch")
