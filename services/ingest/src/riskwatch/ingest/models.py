"""The ingest schema: its declarative base and the tables every service schema has."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from riskwatch.common.db import TYPE_ANNOTATION_MAP, service_metadata
from riskwatch.common.generation import Generations

SCHEMA = "ingest"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)
    type_annotation_map = TYPE_ANNOTATION_MAP


generations = Generations(Base.metadata)
