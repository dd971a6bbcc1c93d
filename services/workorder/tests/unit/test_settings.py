"""Disposal deadlines come from the environment, and a swapped pair is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from riskwatch.common.events.base import Level
from riskwatch.workorder.settings import DisposalDeadlines, WorkOrderSettings
from riskwatch.workorder.workorders.domain import DEFAULT_POLICY


def test_defaults() -> None:
    settings = WorkOrderSettings()
    assert (settings.service_name, settings.port) == ("workorder", 8003)
    assert settings.disposal_deadlines.policy() == DEFAULT_POLICY


def test_deadlines_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RW_DISPOSAL_DEADLINES__RED", "3600")
    monkeypatch.setenv("RW_DISPOSAL_DEADLINES__ORANGE", "PT4H")
    policy = WorkOrderSettings().disposal_deadlines.policy()
    assert policy.for_level(Level.RED) == timedelta(hours=1)
    assert policy.for_level(Level.ORANGE) == timedelta(hours=4)
    assert policy.for_level(Level.BLUE) == timedelta(hours=72)


def test_a_higher_level_may_not_get_longer() -> None:
    with pytest.raises(ValidationError, match="red deadline must not be longer than the orange"):
        DisposalDeadlines(red=timedelta(hours=7))


def test_a_deadline_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        DisposalDeadlines(red=timedelta(0))
