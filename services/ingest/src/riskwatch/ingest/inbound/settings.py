"""Settings of Kafka inbound: `IngestSettings.inbound` (environment: RW_INBOUND__<FIELD>)."""

from __future__ import annotations

from pydantic import BaseModel, PositiveInt


class InboundSettings(BaseModel):
    # A consumer of `rw.<sector>.inbound` for each sector this process serves (RW_SECTORS), in
    # the worker role, when the bus is Kafka: nothing outside a process can publish on its
    # in-process bus (the embedded mode), so there it is off whatever this says.
    enabled: bool = True
    # Readings of consecutive events of one partition taken in one transaction, at most; an
    # event alone may carry up to RW_MAX_BATCH_ITEMS.
    max_readings_per_transaction: PositiveInt = 5000
