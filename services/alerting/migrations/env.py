"""Alembic environment of the `alerting` schema."""

from riskwatch.alerting.models_all import metadata
from riskwatch.common.migrate import run_env

run_env(metadata)
