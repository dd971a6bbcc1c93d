"""Reporting settings: its port, and a district time zone checked at start."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from riskwatch.reporting.settings import ReportingSettings


def test_defaults_and_the_district_zone() -> None:
    settings = ReportingSettings()
    assert (settings.service_name, settings.port) == ("reporting", 8005)
    assert settings.zone.key == "Asia/Shanghai"


def test_an_unknown_time_zone_stops_the_service_at_start() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        ReportingSettings(timezone="Mars/Olympus")
