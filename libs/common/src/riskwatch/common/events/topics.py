"""Topic names. Sector topics are built from catalog ids, never hard-coded per sector."""

from __future__ import annotations

import re

ALARMS = "rw.alarms"
WORKORDERS = "rw.workorders"
NOTIFICATIONS = "rw.notifications"
DUTY = "rw.duty"
REPORTS = "rw.reports"
AUDIT = "rw.audit"
ACCOUNTS = "rw.identity.accounts"
# Hourly counts of readings and quality flags per sector (ingest to reporting), key sector_id.
READING_QUALITY = "rw.reading-quality"

_SECTOR = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")


def _sector(sector_id: str) -> str:
    if not _SECTOR.match(sector_id):
        raise ValueError(f"not a valid sector id for a topic name: {sector_id!r}")
    return sector_id


def readings_topic(sector_id: str) -> str:
    return f"rw.{_sector(sector_id)}.readings"


def device_status_topic(sector_id: str) -> str:
    return f"rw.{_sector(sector_id)}.device-status"


def inbound_topic(sector_id: str) -> str:
    """Where a sector system publishes its readings as CloudEvents (ADR 0022)."""
    return f"rw.{_sector(sector_id)}.inbound"


def inbound_rejections_topic(sector_id: str) -> str:
    """The readings of a sector's inbound topic that ingest rejected, keyed by their source."""
    return f"rw.{_sector(sector_id)}.inbound.rejections"


def dlq_topic(consumer_group: str) -> str:
    return f"rw.dlq.{consumer_group}"
