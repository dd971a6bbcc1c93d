"""Base of every event payload, the registry of event types, and types shared by payloads."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import ClassVar, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

_REGISTRY: dict[str, type[EventPayload]] = {}

# Ids from the catalog and device registry: lower-case slugs, safe in topic names and URLs.
SLUG_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
Slug = str


class EventPayload(BaseModel):
    """A versioned event payload. `event_type` is the CloudEvents `type` (`rw.x.y.v1`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    event_type: ClassVar[str]


P = TypeVar("P", bound=type[EventPayload])


def event_type(type_name: str) -> Callable[[P], P]:
    """Register a payload class under its CloudEvents type; a name may be registered once."""

    def register(cls: P) -> P:
        if type_name in _REGISTRY:
            raise ValueError(f"event type {type_name} registered twice")
        cls.event_type = type_name
        _REGISTRY[type_name] = cls
        return cls

    return register


def payload_class(type_name: str) -> type[EventPayload] | None:
    return _REGISTRY.get(type_name)


def event_types() -> dict[str, type[EventPayload]]:
    return dict(_REGISTRY)


class Level(StrEnum):
    """China's four warning levels, from IV (blue, general) to I (red, especially serious)."""

    BLUE = "blue"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"

    @property
    def rank(self) -> int:
        return _LEVEL_RANK[self]


_LEVEL_RANK = {Level.BLUE: 1, Level.YELLOW: 2, Level.ORANGE: 3, Level.RED: 4}


class DeviceRef(BaseModel):
    """Where a device sits in the catalog; travels with readings so consumers need no lookup."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_id: str = Field(min_length=1, max_length=128)
    sector_id: str
    scenario_id: str
    town_id: str | None = None
    village_id: str | None = None
    name: str | None = None


Timestamp = AwareDatetime
