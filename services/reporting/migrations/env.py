"""Alembic environment of the `reporting` schema."""

from riskwatch.common.migrate import run_env
from riskwatch.reporting.models_all import metadata

run_env(metadata)
