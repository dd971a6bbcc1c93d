"""Alembic environment of the `ingest` schema."""

from riskwatch.common.migrate import run_env
from riskwatch.ingest.models_all import metadata

run_env(metadata)
