"""The ingest schema: its declarative base and the tables every service schema has."""

from __future__ import annotations

from riskwatch.common.db import service_base

SCHEMA = "ingest"
Base = service_base(SCHEMA)
