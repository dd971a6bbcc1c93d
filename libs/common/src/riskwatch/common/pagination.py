"""Cursor pagination: lists answer {"items": [...], "next_cursor": ...}, newest first.

The cursor is opaque to clients: the (timestamp, id) of the last item, base64url JSON. Keyset
paging stays fast and stable while new rows arrive, unlike OFFSET.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from riskwatch.common.errors import Invalid
from riskwatch.common.inputs import is_one_line

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(at: datetime, id_: str) -> str:
    raw = json.dumps([at.isoformat(), id_], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position in a cursor we made. Clients can forge one, and what it holds goes into a
    query: an id that PostgreSQL cannot compare or a time with no UTC equivalent is refused."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, id_ = json.loads(raw)
        when = datetime.fromisoformat(at)
        if when.tzinfo is None or not isinstance(id_, str) or not is_one_line(id_):
            raise ValueError("bad cursor")
        when = when.astimezone(UTC)
    except (ValueError, TypeError, OverflowError, binascii.Error, json.JSONDecodeError) as exc:
        raise Invalid("The cursor is not valid; start again without it.") from exc
    return when, id_


def keyset(
    stmt: Select[Any],
    *,
    at: InstrumentedAttribute[datetime],
    id_: InstrumentedAttribute[str],
    cursor: str | None,
    limit: int,
) -> Select[Any]:
    """Newest first by (at, id), after `cursor`, fetching one extra row to know if more exist."""
    if cursor:
        when, last_id = decode_cursor(cursor)
        stmt = stmt.where(tuple_(at, id_) < tuple_(when, last_id))
    return stmt.order_by(at.desc(), id_.desc()).limit(limit + 1)


def page_of(rows: Sequence[T], *, limit: int, at: str, id_: str) -> tuple[list[T], str | None]:
    """Cut the extra row off and make the cursor for the next page from the last item."""
    items = list(rows[:limit])
    if len(rows) <= limit or not items:
        return items, None
    last = items[-1]
    return items, encode_cursor(getattr(last, at), getattr(last, id_))
