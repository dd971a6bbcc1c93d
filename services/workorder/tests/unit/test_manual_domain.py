"""The command manual is data: entries are found most specific first, units resolve per order,
and a manual with problems lists them all. The demo's manual is valid for the demo catalog."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from riskwatch.common.catalog import load_catalog
from riskwatch.common.errors import Invalid
from riskwatch.common.events.base import Level
from riskwatch.workorder.manual.domain import (
    ManualBody,
    ManualEntry,
    default_unit,
    find_entry,
    manual_problems,
    resolve_unit,
)
from riskwatch.workorder.manual.service import DEMO_MANUAL, parse_manual

LIMITS = {"accept": 5, "on_site": 10, "clear": 20, "feedback": 30, "close": 40}


def entry(**fields: object) -> ManualEntry:
    return ManualEntry.model_validate(
        {
            "scenario_id": "gas",
            "unit": "street-{town_id}",
            "disposal_standard": "s",
            "limits": LIMITS,
        }
        | fields
    )


def test_the_most_specific_entry_wins() -> None:
    any_gas = entry(unit="a")
    red_gas = entry(level="red", unit="b")
    rule = entry(rule_id="gas-lel", unit="c")
    rule_red = entry(rule_id="gas-lel", level="red", unit="d")
    entries = [any_gas, red_gas, rule, rule_red]

    def unit(rule_id: str | None, level: Level) -> str | None:
        found = find_entry(entries, scenario_id="gas", rule_id=rule_id, level=level)
        return found.unit if found else None

    assert unit("gas-lel", Level.RED) == "d"
    assert unit("gas-lel", Level.BLUE) == "c"
    assert unit("other", Level.RED) == "b"
    assert unit(None, Level.YELLOW) == "a"
    assert find_entry(entries, scenario_id="bridges", rule_id=None, level=Level.RED) is None


def test_units_resolve_per_order() -> None:
    assert resolve_unit("street-{town_id}", town_id="huamu", sector_id="x") == "street-huamu"
    assert resolve_unit("sector-{sector_id}", town_id=None, sector_id="construction") == (
        "sector-construction"
    )
    assert resolve_unit("street-{town_id}", town_id=None, sector_id="x") is None
    assert default_unit(town_id="huamu", sector_id="c") == "street-huamu"
    assert default_unit(town_id=None, sector_id="c") == "sector-c"


def test_bad_entries_are_refused_with_reasons() -> None:
    with pytest.raises(ValidationError, match="unknown placeholder"):
        entry(unit="street-{town}")
    with pytest.raises(ValidationError, match="unknown handler role"):
        entry(handler_role="janitor")
    with pytest.raises(ValidationError, match="accept <= on_site"):
        entry(limits=LIMITS | {"accept": 50})


def test_manual_problems_lists_every_problem() -> None:
    catalog = load_catalog()
    body = ManualBody(entries=[entry(), entry(), entry(scenario_id="nowhere")])
    assert manual_problems(body, catalog) == [
        "entry 1 (gas/*/*): the same scenario, rule and level twice",
        "entry 2 (nowhere/*/*): unknown scenario 'nowhere'",
    ]


def test_the_demo_manual_is_valid_for_the_demo_catalog() -> None:
    body = parse_manual(DEMO_MANUAL.read_text(encoding="utf-8"))
    assert manual_problems(body, load_catalog()) == []
    red_gas = find_entry(body.entries, scenario_id="gas", rule_id="gas-ch4-lel", level=Level.RED)
    assert red_gas is not None
    assert red_gas.tier == "medium"
    assert red_gas.photos_required == 1


def test_a_broken_file_says_where() -> None:
    with pytest.raises(Invalid) as caught:
        parse_manual("entries:\n  - scenario_id: gas\n")
    problems = caught.value.extensions["problems"]
    assert any(p.startswith("entries.0.unit") for p in problems)
    with pytest.raises(Invalid, match="Not a YAML"):
        parse_manual("entries: [")
