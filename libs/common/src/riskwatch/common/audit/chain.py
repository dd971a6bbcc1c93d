"""The hash chain of the audit trail, as pure functions: how a row's hash is made, how rows are
numbered and linked, and what verification finds. No I/O; `store` feeds it rows.

Each row's hash is SHA-256 (hex) of the previous row's hash followed by the canonical JSON of
the row's fields (seq included), so altering, deleting, inserting or reordering any row but the
last breaks a link that verification reports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

GENESIS_HASH = "0" * 64

# Every stored column but the chain's own (prev_hash, hash): what a row's hash covers.
HASHED_FIELDS = (
    "seq",
    "at",
    "recorded_at",
    "actor",
    "roles",
    "scope",
    "source_address",
    "service",
    "action",
    "resource",
    "outcome",
    "status",
    "reason",
    "before_digest",
    "after_digest",
    "request_id",
    "trace_id",
    "event_id",
)
_HASHED = frozenset(HASHED_FIELDS)

Value = str | int | list[str] | datetime | None
Fields = Mapping[str, Value]


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where the chain goes on: the seq of the next row and the hash it must link to. The
    genesis, the row after a stored one, or a checkpoint left by a dropped partition."""

    seq: int
    prev_hash: str


GENESIS = Anchor(1, GENESIS_HASH)


@dataclass(frozen=True, slots=True)
class Link:
    """One stored row as the chain sees it."""

    seq: int
    prev_hash: str
    hash: str
    fields: Fields

    @property
    def next(self) -> Anchor:
        return Anchor(self.seq + 1, self.hash)


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int
    what: str


def canonical(fields: Fields) -> bytes:
    """Sorted-key, whitespace-free, ASCII JSON of exactly `HASHED_FIELDS`; timestamps as UTC
    ISO 8601 with microseconds (PostgreSQL's precision, so a stored row hashes the same)."""
    if fields.keys() != _HASHED:
        missing = sorted(_HASHED - fields.keys())
        extra = sorted(fields.keys() - _HASHED)
        raise ValueError(f"hashed fields differ: missing {missing}, unexpected {extra}")
    plain = {name: _plain(value) for name, value in fields.items()}
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _plain(value: Value) -> str | int | list[str] | None:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in an audit row")
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, list):
        return list(value)
    return value


def row_hash(prev_hash: str, fields: Fields) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(fields)).hexdigest()


def extend(head: Anchor, records: Sequence[Fields]) -> list[Link]:
    """Number and hash `records` (their fields without seq) after `head`, in order."""
    links: list[Link] = []
    anchor = head
    for record in records:
        fields = {**record, "seq": anchor.seq}
        link = Link(anchor.seq, anchor.prev_hash, row_hash(anchor.prev_hash, fields), fields)
        links.append(link)
        anchor = link.next
    return links


@dataclass(slots=True)
class Verifier:
    """Checks rows one at a time, in seq order, from `start` (so that a table of millions of
    rows is streamed, not loaded)."""

    start: Anchor = GENESIS
    checked: int = 0
    _next: Anchor | None = None

    @property
    def head(self) -> Anchor:
        """Where the chain goes on after the rows checked so far."""
        return self._next or self.start

    def check(self, link: Link) -> list[Problem]:
        expected = self.head
        found: list[Problem] = []
        if link.seq < expected.seq:
            found.append(
                Problem(link.seq, f"out of order: seq {link.seq} comes after {expected.seq - 1}")
            )
        elif link.seq > expected.seq:
            gap = (
                str(expected.seq)
                if link.seq == expected.seq + 1
                else f"{expected.seq}..{link.seq - 1}"
            )
            found.append(Problem(expected.seq, f"deleted: row(s) {gap} missing"))
        elif link.prev_hash != expected.prev_hash:
            found.append(
                Problem(
                    link.seq,
                    "broken link: prev_hash is not the hash of the row before "
                    "(that row was altered, or a row was deleted or inserted)",
                )
            )
        if row_hash(link.prev_hash, link.fields) != link.hash:
            found.append(Problem(link.seq, "altered: the hash does not match the row's content"))
        # Go on from the stored hash, so one altered row is one problem, not one per row after.
        self._next = Anchor(max(link.seq, expected.seq - 1) + 1, link.hash)
        self.checked += 1
        return found


def verify_chain(links: Iterable[Link], *, start: Anchor = GENESIS) -> list[Problem]:
    """Every problem of `links` (in the order they were stored) as a chain from `start`."""
    verifier = Verifier(start)
    return [problem for link in links for problem in verifier.check(link)]
