"""Every table of the notify schema, imported so Alembic and tests see the full metadata."""

from riskwatch.notify.duty.models import DutyCenter, Person, Shift
from riskwatch.notify.models import Base, inbox, outbox
from riskwatch.notify.notifications.models import Notification

metadata = Base.metadata

__all__ = ["DutyCenter", "Notification", "Person", "Shift", "inbox", "metadata", "outbox"]
