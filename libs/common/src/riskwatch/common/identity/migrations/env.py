"""Alembic environment of the built-in issuer's `identity` schema."""

from riskwatch.common.identity.models import Base
from riskwatch.common.migrate import run_env

run_env(Base.metadata)
