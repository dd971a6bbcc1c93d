"""Table of threshold rules."""

from __future__ import annotations

from sqlalchemy import Float, Index, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.alerting.models import Base
from riskwatch.alerting.rules.domain import RuleSpec, Thresholds, flag_mask
from riskwatch.common.db import TimestampMixin


class Rule(TimestampMixin, Base):
    __tablename__ = "rule"

    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    scenario_id: Mapped[str] = mapped_column(String(48))
    metric: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(8))
    blue: Mapped[float | None] = mapped_column(Float)
    yellow: Mapped[float | None] = mapped_column(Float)
    orange: Mapped[float | None] = mapped_column(Float)
    red: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(32))
    # Quality flags (the contract's names: out_of_range, late, ...) whose readings the rule
    # leaves aside; empty evaluates every reading.
    ignore_flags: Mapped[list[str]] = mapped_column(
        ARRAY(String(32)), default=list, server_default=text("'{}'")
    )
    enabled: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1)

    __table_args__ = (Index("ix_rule_scenario_metric", "scenario_id", "metric"),)

    def spec(self) -> RuleSpec:
        return RuleSpec(
            rule_id=self.rule_id,
            version=self.version,
            scenario_id=self.scenario_id,
            metric=self.metric,
            direction="above" if self.direction == "above" else "below",
            thresholds=Thresholds(self.blue, self.yellow, self.orange, self.red),
            ignore_mask=flag_mask(self.ignore_flags),
        )
