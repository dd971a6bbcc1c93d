"""Every table of the reporting schema, imported so Alembic and tests see the full metadata."""

from riskwatch.reporting.models import Base, inbox
from riskwatch.reporting.projections.models import (
    AlarmView,
    DeviceStatusChangeView,
    DeviceView,
    DutyShiftView,
    NotificationView,
    ReadingQualityDeviceView,
    ReadingQualityView,
    RosterView,
    WorkOrderView,
)

metadata = Base.metadata

__all__ = [
    "AlarmView",
    "DeviceStatusChangeView",
    "DeviceView",
    "DutyShiftView",
    "NotificationView",
    "ReadingQualityDeviceView",
    "ReadingQualityView",
    "RosterView",
    "WorkOrderView",
    "inbox",
    "metadata",
]
