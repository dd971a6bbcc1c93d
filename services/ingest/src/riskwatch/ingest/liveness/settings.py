"""Settings of liveness (RW_LIVENESS__...)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LivenessSettings(BaseModel):
    # How often the watcher looks for devices past their deadline. An offline period starts at
    # the deadline whatever this is; it only delays the event and the alarm.
    watch_interval_s: float = Field(default=5.0, gt=0)
    # The readings path notes a watched device's receipt at most once per this many seconds
    # per process (or a quarter of its profile's smallest interval, if shorter): a device
    # heard many times a second costs one row per window, not one per batch.
    note_every_s: float = Field(default=5.0, ge=0)
