"""The hash chain, pure: how rows are hashed and linked, and that verification finds any
alteration, deletion (but of the last row) or reordering. Properties run the production
functions on generated chains."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from riskwatch.common.audit.chain import (
    GENESIS,
    GENESIS_HASH,
    HASHED_FIELDS,
    Anchor,
    Link,
    Value,
    Verifier,
    canonical,
    extend,
    row_hash,
    verify_chain,
)

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
texts = st.text(max_size=12)
optional = st.none() | texts
hexes = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
COLUMN: dict[str, st.SearchStrategy[Any]] = {
    "seq": st.integers(min_value=0, max_value=2**40),
    "at": times,
    "recorded_at": times,
    "actor": texts,
    "roles": st.lists(texts, max_size=3),
    "scope": optional,
    "source_address": optional,
    "service": texts,
    "action": texts,
    "resource": optional,
    "outcome": st.sampled_from(["success", "failure", "denied"]),
    "status": st.none() | st.integers(min_value=100, max_value=599),
    "reason": optional,
    "before_digest": st.none() | hexes,
    "after_digest": st.none() | hexes,
    "request_id": optional,
    "trace_id": optional,
    "event_id": texts,
    "prev_hash": hexes,
    "hash": hexes,
}
record_fields = st.fixed_dictionaries({n: COLUMN[n] for n in HASHED_FIELDS if n != "seq"})
chains = st.lists(record_fields, min_size=1, max_size=8).map(lambda rs: extend(GENESIS, rs))


def fields(**overrides: Value) -> dict[str, Value]:
    values: dict[str, Value] = {
        "seq": 1,
        "at": T0,
        "recorded_at": T0,
        "actor": "alice",
        "roles": ["business_admin"],
        "scope": "district",
        "source_address": "10.0.0.7",
        "service": "alerting",
        "action": "rules.put",
        "resource": "rules/gas",
        "outcome": "success",
        "status": 200,
        "reason": None,
        "before_digest": None,
        "after_digest": None,
        "request_id": "req-1",
        "trace_id": None,
        "event_id": "e-1",
    }
    values.update(overrides)
    return values


def as_rows(links: list[Link]) -> list[dict[str, Any]]:
    """The links as the table holds them: one flat row each."""
    return [{**link.fields, "prev_hash": link.prev_hash, "hash": link.hash} for link in links]


def as_links(rows: list[dict[str, Any]]) -> list[Link]:
    return [
        Link(row["seq"], row["prev_hash"], row["hash"], {n: row[n] for n in HASHED_FIELDS})
        for row in rows
    ]


# -- hashing ---------------------------------------------------------------------------------


def test_a_row_hash_is_sha256_of_the_previous_hash_and_the_canonical_fields() -> None:
    f = fields()
    expected = hashlib.sha256(GENESIS_HASH.encode() + canonical(f)).hexdigest()
    assert row_hash(GENESIS_HASH, f) == expected
    # Pinned: a change of the canonical form would break the verification of every stored row.
    assert canonical(f) == (
        b'{"action":"rules.put","actor":"alice","after_digest":null,'
        b'"at":"2026-11-20T08:00:00.000000+00:00","before_digest":null,"event_id":"e-1",'
        b'"outcome":"success","reason":null,"recorded_at":"2026-11-20T08:00:00.000000+00:00",'
        b'"request_id":"req-1","resource":"rules/gas","roles":["business_admin"],'
        b'"scope":"district","seq":1,"service":"alerting","source_address":"10.0.0.7",'
        b'"status":200,"trace_id":null}'
    )
    assert expected == "9d5119582e8b1adc79e7ce155fc5326f4274a6840ca72aa18a4d362dbcc4b398"


def test_a_time_hashes_as_its_utc_equivalent() -> None:
    shanghai = timezone(timedelta(hours=8))
    assert row_hash(GENESIS_HASH, fields(at=T0.astimezone(shanghai))) == row_hash(
        GENESIS_HASH, fields()
    )


def test_the_hashed_fields_are_exactly_the_stored_ones() -> None:
    f = fields()
    del f["trace_id"]
    with pytest.raises(ValueError, match="missing \\['trace_id'\\]"):
        canonical(f)
    with pytest.raises(ValueError, match="unexpected \\['note'\\]"):
        canonical({**fields(), "note": "x"})
    with pytest.raises(ValueError, match="naive"):
        canonical(fields(at=datetime(2026, 11, 20, 8, 0)))


def test_extend_numbers_and_links_rows_from_the_anchor() -> None:
    records = [{k: v for k, v in fields(event_id=f"e-{i}").items() if k != "seq"} for i in (1, 2)]
    first, second = extend(Anchor(41, "f" * 64), records)
    assert (first.seq, second.seq) == (41, 42)
    assert first.prev_hash == "f" * 64
    assert second.prev_hash == first.hash
    assert first.hash == row_hash("f" * 64, {**records[0], "seq": 41})


# -- verification, by example -----------------------------------------------------------------


def five() -> list[Link]:
    return extend(
        GENESIS,
        [{k: v for k, v in fields(event_id=f"e-{i}").items() if k != "seq"} for i in range(5)],
    )


def test_an_untouched_chain_verifies() -> None:
    assert verify_chain(five()) == []
    assert verify_chain([]) == []


def test_deleted_rows_are_named() -> None:
    links = five()
    problems = verify_chain([links[0], links[1], links[4]])
    assert [(p.seq, p.what) for p in problems] == [(3, "deleted: row(s) 3..4 missing")]
    assert [(p.seq, p.what) for p in verify_chain(links[1:])] == [(1, "deleted: row(s) 1 missing")]


def test_an_altered_row_is_one_problem_and_a_rehashed_one_breaks_the_next_link() -> None:
    links = five()
    altered = Link(3, links[2].prev_hash, links[2].hash, {**links[2].fields, "actor": "mallory"})
    problems = verify_chain([*links[:2], altered, *links[3:]])
    assert [(p.seq, p.what.split(":")[0]) for p in problems] == [(3, "altered")]
    rehashed = Link(
        3, altered.prev_hash, row_hash(altered.prev_hash, altered.fields), altered.fields
    )
    problems = verify_chain([*links[:2], rehashed, *links[3:]])
    assert [(p.seq, p.what.split(":")[0]) for p in problems] == [(4, "broken link")]


def test_a_chain_resumes_from_its_checkpoint() -> None:
    links = five()
    assert verify_chain(links[2:], start=links[1].next) == []
    assert verify_chain(links[2:], start=GENESIS) != []
    assert verify_chain(links[2:], start=Anchor(3, "0" * 64)) != []


def test_the_verifier_streams_and_knows_the_head() -> None:
    links = five()
    verifier = Verifier()
    for link in links:
        assert verifier.check(link) == []
    assert verifier.checked == 5
    assert verifier.head == Anchor(6, links[-1].hash)


# -- verification, properties ----------------------------------------------------------------


@given(chains)
def test_property_an_untouched_chain_verifies(links: list[Link]) -> None:
    assert verify_chain(links) == []


@given(chains, st.data())
def test_property_any_single_field_alteration_is_detected(
    links: list[Link], data: st.DataObject
) -> None:
    rows = as_rows(links)
    i = data.draw(st.integers(min_value=0, max_value=len(rows) - 1), label="row")
    column = data.draw(st.sampled_from(sorted(COLUMN)), label="column")
    value = data.draw(COLUMN[column], label="value")
    assume(value != rows[i][column])
    rows[i][column] = value
    problems = verify_chain(as_links(rows))
    assert problems
    if column != "seq":
        assert any(p.seq == links[i].seq for p in problems)


@given(chains.filter(lambda links: len(links) >= 2), st.data())
def test_property_deleting_any_row_but_the_last_is_detected(
    links: list[Link], data: st.DataObject
) -> None:
    i = data.draw(st.integers(min_value=0, max_value=len(links) - 2), label="deleted")
    problems = verify_chain(links[:i] + links[i + 1 :])
    assert any(p.seq == links[i].seq and p.what.startswith("deleted") for p in problems)


@given(chains.filter(lambda links: len(links) >= 2), st.data())
def test_property_any_reordering_is_detected(links: list[Link], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(links), label="order")
    assume(shuffled != links)
    assert verify_chain(shuffled)
