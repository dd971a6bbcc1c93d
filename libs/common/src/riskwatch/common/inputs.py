"""Values from clients, checked at the edge: ids, one-line names, free text, timestamps.

PostgreSQL text cannot hold NUL (a query with one fails), control characters in an id or a name
forge lines in terminals and logs, and a time without a UTC equivalent cannot be stored. API
models, path and query parameters use these types, so such input is a 422 before it reaches a
query; `errors.py` maps what the database refuses to a 422 too, but only as the safety net.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, StringConstraints

# Unicode category Cc: the C0 controls (NUL, ESC, LF, ...), DEL and the C1 controls (CSI...).
# pydantic also refuses lone surrogates for any pattern, which the UTF-8 encoder could not send.
ONE_LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
# Free text keeps tab, line feed and carriage return.
MULTI_LINE_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"

KEY_MAX_LENGTH = 128  # the longest id column (device_id)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")

Key = Annotated[
    str,
    StringConstraints(min_length=1, max_length=KEY_MAX_LENGTH, pattern=ONE_LINE_PATTERN),
]
"""An id or a filter on one (alarm, work order, sector, town...): one line, 1-128 characters."""

Line = Annotated[str, StringConstraints(pattern=ONE_LINE_PATTERN)]
"""One line of text (a name, a label); the field sets its length."""

FreeText = Annotated[str, StringConstraints(pattern=MULTI_LINE_PATTERN)]
"""Text that may span lines (a note, a description); the field sets its length."""


def is_one_line(value: str) -> bool:
    """True when `value` holds no control character and no lone surrogate: what `Key` and
    `Line` accept, for code that checks input by hand (the readings batch, cursors)."""
    return _CONTROL.search(value) is None


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00+05:00 is in year 0 in UTC
        raise ValueError("the time has no UTC equivalent (out of range)") from exc


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""A timestamp with its offset, given back in UTC, as stored."""
