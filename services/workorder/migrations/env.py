"""Alembic environment of the `workorder` schema."""

from riskwatch.common.migrate import run_env
from riskwatch.workorder.models_all import metadata

run_env(metadata)
