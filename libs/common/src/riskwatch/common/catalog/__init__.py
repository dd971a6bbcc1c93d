"""The catalog of sectors, scenarios, towns and villages, loaded from YAML."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from riskwatch.common.catalog.models import (
    Catalog,
    Department,
    District,
    Scenario,
    Sector,
    SpecialZone,
    Town,
    Village,
)


def load_catalog(path: Path | None = None) -> Catalog:
    """Load and validate a catalog file; the default catalog when `path` is None."""
    if path is None:
        text = resources.files(__package__).joinpath("default.yaml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return Catalog.model_validate(yaml.safe_load(text))


@cache
def default_catalog() -> Catalog:
    return load_catalog(None)


__all__ = [
    "Catalog",
    "Department",
    "District",
    "Scenario",
    "Sector",
    "SpecialZone",
    "Town",
    "Village",
    "default_catalog",
    "load_catalog",
]
