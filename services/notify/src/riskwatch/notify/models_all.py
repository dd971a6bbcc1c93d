"""Every table of the notify schema, imported so Alembic and tests see the full metadata."""

from riskwatch.notify.duty.models import DutyCenter, Person, Shift
from riskwatch.notify.escalation.models import Escalation, EscalationPolicyVersion
from riskwatch.notify.models import Base, inbox, outbox
from riskwatch.notify.notifications.models import DeliveryAttempt, Notification
from riskwatch.notify.templates.models import MessageTemplate

metadata = Base.metadata

__all__ = [
    "DeliveryAttempt",
    "DutyCenter",
    "Escalation",
    "EscalationPolicyVersion",
    "MessageTemplate",
    "Notification",
    "Person",
    "Shift",
    "inbox",
    "metadata",
    "outbox",
]
