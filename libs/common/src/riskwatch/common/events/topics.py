"""Topic names. Sector topics are built from catalog ids, never hard-coded per sector."""

from __future__ import annotations

import re

ALARMS = "rw.alarms"
WORKORDERS = "rw.workorders"
NOTIFICATIONS = "rw.notifications"
DUTY = "rw.duty"
REPORTS = "rw.reports"
INBOUND_READINGS = "rw.inbound.readings"
AUDIT = "rw.audit"
ACCOUNTS = "rw.identity.accounts"

_SECTOR = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")


def _sector(sector_id: str) -> str:
    if not _SECTOR.match(sector_id):
        raise ValueError(f"not a valid sector id for a topic name: {sector_id!r}")
    return sector_id


def readings_topic(sector_id: str) -> str:
    return f"rw.{_sector(sector_id)}.readings"


def device_status_topic(sector_id: str) -> str:
    return f"rw.{_sector(sector_id)}.device-status"


def dlq_topic(consumer_group: str) -> str:
    return f"rw.dlq.{consumer_group}"
