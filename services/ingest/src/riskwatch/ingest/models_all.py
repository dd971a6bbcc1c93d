"""Every table of the ingest schema, imported so Alembic and tests see the full metadata."""

from riskwatch.ingest.devices.models import Device
from riskwatch.ingest.liveness.models import DeviceLiveness, DeviceStatusPeriod
from riskwatch.ingest.models import Base
from riskwatch.ingest.mqtt.models import DeviceCredential
from riskwatch.ingest.readings.models import RawReading, ReadingQualityMark

metadata = Base.metadata

__all__ = [
    "Device",
    "DeviceCredential",
    "DeviceLiveness",
    "DeviceStatusPeriod",
    "RawReading",
    "ReadingQualityMark",
    "metadata",
]
