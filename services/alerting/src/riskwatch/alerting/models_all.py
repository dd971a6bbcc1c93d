"""Every table of the alerting schema, imported so Alembic and tests see the full metadata."""

from riskwatch.alerting.alarms.models import Alarm
from riskwatch.alerting.models import Base, inbox, outbox
from riskwatch.alerting.rules.models import Rule

metadata = Base.metadata

__all__ = ["Alarm", "Rule", "inbox", "metadata", "outbox"]
