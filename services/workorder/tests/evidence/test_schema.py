"""The evidence migration builds exactly the table the model declares, and the settings refuse
what they could not serve."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import Connection

from riskwatch.common.testing import engine_for
from riskwatch.workorder.evidence.models import WorkOrderAttachment
from riskwatch.workorder.evidence.settings import EvidenceSettings
from riskwatch.workorder.models import SCHEMA


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "include_schemas": True,
            "compare_type": True,
            "include_name": lambda name, kind, parent: kind != "schema" or name == SCHEMA,
        },
    )
    name = WorkOrderAttachment.__tablename__
    return [d for d in compare_metadata(context, WorkOrderAttachment.metadata) if name in repr(d)]


async def test_the_migration_matches_the_model(workorder_db: str) -> None:
    engine = engine_for(workorder_db)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
    finally:
        await engine.dispose()


def test_settings_refuse_an_incomplete_s3_backend() -> None:
    with pytest.raises(ValidationError, match="RW_EVIDENCE__S3_BUCKET"):
        EvidenceSettings(
            backend="s3",
            s3_endpoint_url="https://s3.example",
            s3_access_key_id="a",
            s3_secret_access_key="s",  # type: ignore[arg-type]
        )


def test_settings_refuse_a_type_not_told_by_content() -> None:
    with pytest.raises(ValidationError, match="image/svg"):
        EvidenceSettings(allowed_content_types=("image/png", "image/svg+xml"))
