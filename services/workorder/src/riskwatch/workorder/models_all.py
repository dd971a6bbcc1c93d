"""Every table of the workorder schema, imported so Alembic and tests see the full metadata."""

from riskwatch.workorder.evidence.models import WorkOrderAttachment
from riskwatch.workorder.manual.models import ManualVersion
from riskwatch.workorder.models import Base, inbox, outbox
from riskwatch.workorder.workorders.models import (
    Bulletin,
    UnitMember,
    UnitVersion,
    WorkOrder,
    WorkOrderEvent,
)

metadata = Base.metadata

__all__ = [
    "Bulletin",
    "ManualVersion",
    "UnitMember",
    "UnitVersion",
    "WorkOrder",
    "WorkOrderAttachment",
    "WorkOrderEvent",
    "inbox",
    "metadata",
    "outbox",
]
