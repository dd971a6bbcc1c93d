"""Problems of evidence that `riskwatch.common.errors` has no class for."""

from __future__ import annotations

from typing import Any

from riskwatch.common.errors import AppError, Unavailable


class ContentTooLarge(AppError):
    # The same type as the edge's 413 (riskwatch.common.edge), which refuses a body larger
    # than any route takes before it reaches us.
    status = 413
    code = "content-too-large"
    title = "Content too large"

    def __init__(self, detail: str, *, max_bytes: int, **extensions: Any) -> None:
        super().__init__(detail, max_bytes=max_bytes, **extensions)


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported-media-type"
    title = "Unsupported media type"


class EvidenceDamaged(AppError):
    """Stored evidence is missing or not what was stored (its checksum differs): ours to mend,
    never served."""

    status = 500
    code = "evidence-damaged"
    title = "Stored evidence is damaged"


class EvidenceStoreUnavailable(Unavailable):
    code = "evidence-store-unavailable"
    title = "Evidence store unavailable"
