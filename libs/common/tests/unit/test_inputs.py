"""What the edge lets through: ids and names on one line, free text without control
characters but its line breaks, timestamps that have a UTC time; never a NUL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from riskwatch.common.inputs import FreeText, Key, Line, UtcDatetime, is_one_line

key, line, free_text = TypeAdapter(Key), TypeAdapter(Line), TypeAdapter(FreeText)
utc_datetime = TypeAdapter(UtcDatetime)


@pytest.mark.parametrize("value", ["gas-1", "a1b2c3d4-0000", "陆家嘴", "x" * 128, "with space"])
def test_keys_are_one_line_ids(value: str) -> None:
    assert key.validate_python(value) == value


@pytest.mark.parametrize(
    "value", ["", "x" * 129, "gas\x001", "\x00", "a\nb", "\x1b[2J", "a\x9bb", "\ud800"]
)
def test_keys_refuse_nul_controls_surrogates_and_bad_lengths(value: str) -> None:
    with pytest.raises(ValidationError):
        key.validate_python(value)


def test_lines_and_free_text_differ_on_line_breaks_only() -> None:
    assert (
        free_text.validate_python("leak fixed\r\n\tvalve closed") == "leak fixed\r\n\tvalve closed"
    )
    with pytest.raises(ValidationError):
        line.validate_python("Valve well\nforged line")
    for bad in ("\x00", "\x1b[31mred", "\x07", "\x7f"):
        with pytest.raises(ValidationError):
            free_text.validate_python(f"note {bad}")


@given(st.text())
def test_is_one_line_agrees_with_the_one_line_types(value: str) -> None:
    try:
        line.validate_python(value)
        accepted = True
    except ValidationError:
        accepted = False
    assert is_one_line(value) is accepted


def test_timestamps_come_back_in_utc_or_not_at_all() -> None:
    at = datetime(2026, 11, 22, 9, tzinfo=timezone(timedelta(hours=8)))
    assert utc_datetime.validate_python(at) == at
    assert utc_datetime.validate_python(at).tzinfo is UTC
    for out_of_range in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"):
        with pytest.raises(ValidationError, match="no UTC equivalent"):
            utc_datetime.validate_python(out_of_range)
    with pytest.raises(ValidationError):
        utc_datetime.validate_python("2026-11-22T09:00:00")  # no offset
