"""Settings of liveness (RW_LIVENESS__...)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LivenessSettings(BaseModel):
    # How often the watcher looks for devices past their deadline. An offline period starts at
    # the deadline whatever this is; it only delays the event and the alarm.
    watch_interval_s: float = Field(default=5.0, gt=0)
