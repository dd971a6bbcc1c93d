"""The process's evidence store, made from the settings on first use."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends

from riskwatch.common.deps import RuntimeDep, settings_dependency
from riskwatch.workorder.evidence.settings import EvidenceSettings
from riskwatch.workorder.evidence.storage import EvidenceStore, LocalStore, S3Config, S3Store
from riskwatch.workorder.settings import WorkOrderSettings

WorkOrderSettingsDep = Annotated[
    WorkOrderSettings, Depends(settings_dependency("workorder", WorkOrderSettings))
]


def build_store(settings: EvidenceSettings, *, data_dir: Path) -> EvidenceStore:
    if settings.backend == "local":
        return LocalStore(settings.directory_in(data_dir))
    # The settings' validator saw every s3 field set.
    if (
        settings.s3_endpoint_url is None
        or settings.s3_bucket is None
        or settings.s3_access_key_id is None
        or settings.s3_secret_access_key is None
    ):
        raise ValueError("incomplete s3 evidence settings")
    return S3Store(
        S3Config(
            endpoint_url=settings.s3_endpoint_url,
            bucket=settings.s3_bucket,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key.get_secret_value(),
            timeout_s=settings.s3_timeout_s,
        )
    )


@dataclass(frozen=True, slots=True)
class Evidence:
    """The store with its settings, one per process (`Runtime.singleton` keys it by class)."""

    settings: EvidenceSettings
    store: EvidenceStore


def evidence(runtime: RuntimeDep, settings: WorkOrderSettingsDep) -> Evidence:
    return runtime.singleton(
        Evidence,
        lambda: Evidence(
            settings.evidence, build_store(settings.evidence, data_dir=settings.data_dir)
        ),
    )


EvidenceDep = Annotated[Evidence, Depends(evidence)]
