"""Every table of the workorder schema, imported so Alembic and tests see the full metadata."""

from riskwatch.workorder.models import Base, inbox, outbox
from riskwatch.workorder.workorders.models import WorkOrder, WorkOrderEvent

metadata = Base.metadata

__all__ = ["WorkOrder", "WorkOrderEvent", "inbox", "metadata", "outbox"]
