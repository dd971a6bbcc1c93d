"""Alembic environment of the `notify` schema."""

from riskwatch.common.migrate import run_env
from riskwatch.notify.models_all import metadata

run_env(metadata)
