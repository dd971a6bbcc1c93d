"""Settings of evidence: where it is stored, how large and of which types it may be.

`RW_EVIDENCE__BACKEND=s3`, `RW_EVIDENCE__S3_BUCKET=...`, `RW_EVIDENCE__MAX_BYTES=...`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

from riskwatch.workorder.evidence.sniff import SNIFFABLE

MiB = 1024 * 1024
DEFAULT_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp", "application/pdf")


class EvidenceSettings(BaseModel):
    # "local": files under `directory` (the embedded mode's default); "s3": a bucket of an
    # S3-compatible store (distributed mode: every replica sees the same objects).
    backend: Literal["local", "s3"] = "local"
    directory: Path | None = None  # None: <data_dir>/evidence
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_timeout_s: float = Field(default=30.0, gt=0)
    max_bytes: int = Field(default=10 * MiB, ge=1)
    # Judged by the file's first bytes, never by the name or the client's Content-Type.
    allowed_content_types: tuple[str, ...] = DEFAULT_CONTENT_TYPES

    @model_validator(mode="after")
    def _complete(self) -> EvidenceSettings:
        unknown = sorted(set(self.allowed_content_types) - set(SNIFFABLE))
        if unknown:
            raise ValueError(
                f"RW_EVIDENCE__ALLOWED_CONTENT_TYPES: cannot recognise {', '.join(unknown)} "
                f"by content (known: {', '.join(SNIFFABLE)})"
            )
        if self.backend == "s3":
            missing = [
                name
                for name in (
                    "s3_endpoint_url",
                    "s3_bucket",
                    "s3_access_key_id",
                    "s3_secret_access_key",
                )
                if getattr(self, name) is None
            ]
            if missing:
                names = ", ".join(f"RW_EVIDENCE__{n.upper()}" for n in missing)
                raise ValueError(f"the s3 evidence backend needs {names}")
        return self

    def directory_in(self, data_dir: Path) -> Path:
        return self.directory if self.directory is not None else data_dir / "evidence"
