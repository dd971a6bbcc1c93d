"""Settings of the readings path's data quality and raw store (RW_READINGS__...)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from riskwatch.ingest.readings.quality import QualityRules


class ReadingsSettings(BaseModel):
    # STUCK: this many equal values in a row (the N-th and those after it are flagged).
    stuck_readings: int = Field(default=6, ge=2, le=10_000)
    # SPIKE: a jump between consecutive readings larger than this share of the metric's range.
    spike_share: float = Field(default=0.5, gt=0, le=1)
    # LATE: received more than this many of the metric's intervals after its timestamp...
    late_intervals: float = Field(default=2.0, gt=0)
    # ... or, for a metric no profile describes, more than this many seconds.
    late_default_s: float = Field(default=600.0, gt=0)
    # GAP: more than this many of the metric's intervals since the series' previous reading.
    gap_intervals: float = Field(default=1.5, gt=1)
    # Series (device and metric) whose last reading this process keeps for STUCK and SPIKE
    # (about 0.3 KiB each).
    quality_series: int = Field(default=200_000, ge=1)
    # Raw readings are kept this many days, then their day's partition is dropped.
    retention_days: int = Field(default=400, ge=1)
    # Daily partitions created ahead of today by the housekeeping job.
    partitions_ahead_days: int = Field(default=7, ge=1, le=366)
    # Where the owner of the ingest schema connects, when the services' own role may not
    # create or drop tables (embedded mode gives it; RW_READINGS__OWNER_URL otherwise).
    owner_url: SecretStr | None = None

    def rules(self) -> QualityRules:
        return QualityRules(
            stuck_readings=self.stuck_readings,
            spike_share=self.spike_share,
            late_intervals=self.late_intervals,
            late_default_s=self.late_default_s,
            gap_intervals=self.gap_intervals,
        )
