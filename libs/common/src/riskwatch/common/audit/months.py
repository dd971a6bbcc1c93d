"""Calendar months in UTC, as the audit table is partitioned: one partition per month of
`recorded_at`, named `record_YYYY_MM`. Pure: which months to create, which to drop."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

PARTITION_PREFIX = "record_"
_NAME = re.compile(r"^record_(\d{4})_(\d{2})$")


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"no month {self.month}")

    @classmethod
    def of(cls, when: datetime) -> Month:
        if when.tzinfo is None:
            raise ValueError("naive datetime")
        utc = when.astimezone(UTC)
        return cls(utc.year, utc.month)

    @classmethod
    def of_partition(cls, name: str) -> Month | None:
        """The month of a partition named by `partition`; None for any other name."""
        match = _NAME.match(name)
        if match is None or not 1 <= int(match.group(2)) <= 12:
            return None
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def partition(self) -> str:
        return f"{PARTITION_PREFIX}{self.year:04d}_{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The start of the next month: the partition's exclusive upper bound."""
        return self.next().start

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def months_ahead(now: datetime, ahead: int) -> list[Month]:
    """The month of `now` and the `ahead` months after it."""
    months = [Month.of(now)]
    for _ in range(ahead):
        months.append(months[-1].next())
    return months


def expired(month: Month, *, now: datetime, retention: timedelta) -> bool:
    """Whether the whole month ended more than `retention` before `now`: then every row in it
    is older than the retention, and its partition may go."""
    return now - month.end > retention
