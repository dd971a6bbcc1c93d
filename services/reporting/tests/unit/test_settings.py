"""Reporting settings: its port; the district time zone comes from the catalog, checked at
start."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from riskwatch.common.catalog import default_catalog
from riskwatch.common.catalog.models import District
from riskwatch.reporting.settings import ReportingSettings


def test_defaults_and_the_district_zone() -> None:
    settings = ReportingSettings()
    assert (settings.service_name, settings.port) == ("reporting", 8005)
    assert default_catalog().district.zone.key == "Asia/Shanghai"


def test_an_unknown_time_zone_stops_the_catalog_from_loading() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        District(id="d", name="D", timezone="Mars/Olympus")
