"""Event contracts: the binary-mode codec, poison detection, and JSON Schema snapshots that
make an incompatible payload change fail here before it reaches a consumer."""

from __future__ import annotations

import contextlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskwatch.common.events import PoisonMessage, decode, encode, event_types, new_event
from riskwatch.common.events.asyncapi import render
from riskwatch.common.events.base import DeviceRef
from riskwatch.common.events.readings import (
    DeviceReadings,
    Reading,
    ReadingsAccepted,
    device_json,
    encode_readings_accepted,
)
from riskwatch.common.tracing import parse_traceparent

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"
ASYNCAPI = Path(__file__).resolve().parents[4] / "docs" / "asyncapi.yaml"
UPDATE = os.environ.get("RW_UPDATE_SNAPSHOTS") == "1"


def readings(*values: float) -> ReadingsAccepted:
    now = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    return ReadingsAccepted(
        batch_id="b-1",
        devices=[
            DeviceReadings(
                device=DeviceRef(device_id="gas-001", sector_id="construction", scenario_id="gas"),
                readings=[Reading(metric="ch4_lel", value=v, ts=now) for v in values],
            )
        ],
        received_at=now,
    )


def test_encode_decode_round_trip_keeps_every_attribute() -> None:
    envelope = new_event(readings(1.5, 2.5), source="/riskwatch/ingest", subject="gas-001")
    headers, value = encode(envelope)
    assert dict(headers)["ce_type"] == b"rw.readings.accepted.v2"
    assert dict(headers)["content-type"] == b"application/json"
    back = decode(headers, value)
    assert back == envelope
    assert parse_traceparent(back.traceparent) is not None


def test_a_new_event_continues_the_trace_it_is_given() -> None:
    parent = new_event(readings(1.0), source="/a")
    child = new_event(readings(2.0), source="/b", traceparent=parent.traceparent)
    p, c = parse_traceparent(parent.traceparent), parse_traceparent(child.traceparent)
    assert p
    assert c
    assert p.trace_id == c.trace_id
    assert p.span_id != c.span_id


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h, v: ([x for x in h if x[0] != "ce_type"], v), "missing CloudEvents attributes"),
        (
            lambda h, v: ([x if x[0] != "ce_type" else ("ce_type", b"rw.nope.v1") for x in h], v),
            "unknown event type",
        ),
        (lambda h, v: (h, b"{not json"), "invalid rw.readings.accepted.v2 payload"),
        (lambda h, v: (h, v.replace(b"1.5", b'"NaN"')), "invalid"),
        (lambda h, v: ([x for x in h if x[0] != "ce_specversion"], v), "ce_specversion"),
        (lambda h, v: (h, None), "no value"),
    ],
)
def test_records_that_can_never_be_processed_are_poison(mutate: object, reason: str) -> None:
    headers, value = encode(new_event(readings(1.5), source="/t"))
    bad_headers, bad_value = mutate(headers, value)  # type: ignore[operator]
    with pytest.raises(PoisonMessage, match=reason):
        decode(bad_headers, bad_value)


@given(
    st.binary(max_size=200),
    st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=40)), max_size=8),
)
def test_decode_never_fails_with_anything_but_poison(
    value: bytes, headers: list[tuple[str, bytes]]
) -> None:
    with contextlib.suppress(PoisonMessage):
        decode(headers, value)


@pytest.mark.parametrize(
    "type_name", sorted(t for t in event_types() if not t.startswith("rw.test."))
)
def test_payload_schema_matches_its_snapshot(type_name: str) -> None:
    """An intended contract change updates the snapshot (RW_UPDATE_SNAPSHOTS=1) in the same
    commit, and a new version (`.v2`) is the way to break consumers, never an edit of `.v1`."""
    schema = event_types()[type_name].model_json_schema()
    path = SNAPSHOTS / f"{type_name}.json"
    rendered = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if UPDATE:
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"no snapshot for {type_name}; run with RW_UPDATE_SNAPSHOTS=1"
    assert path.read_text(encoding="utf-8") == rendered


def test_asyncapi_document_is_up_to_date() -> None:
    if UPDATE:
        ASYNCAPI.write_text(render(), encoding="utf-8")
    assert ASYNCAPI.read_text(encoding="utf-8") == render(), (
        "docs/asyncapi.yaml is stale: "
        "uv run python -m riskwatch.common.events.asyncapi > docs/asyncapi.yaml"
    )


slugs = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)
texts = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=30)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
device_refs = st.builds(
    DeviceRef,
    device_id=slugs,
    sector_id=slugs,
    scenario_id=slugs,
    town_id=st.none() | slugs,
    village_id=st.none() | slugs,
    name=st.none() | texts,
)
raw_readings = st.tuples(
    st.text(min_size=1, max_size=64).filter(lambda m: "\x00" not in m),
    st.floats(allow_nan=False, allow_infinity=False),
    instants,
    st.integers(min_value=0, max_value=15),
)


@given(
    st.lists(st.tuples(device_refs, st.lists(raw_readings, min_size=1, max_size=5)), min_size=1),
    instants,
)
def test_the_hot_path_encoder_writes_what_the_model_reads(
    devices: list[tuple[DeviceRef, list[tuple[str, float, datetime, int]]]], received_at: datetime
) -> None:
    """Ingest encodes readings without a model per reading; consumers decode with the model.
    Both must agree on every device, reading, value and instant."""
    value = encode_readings_accepted(
        batch_id="b-1",
        received_at=received_at,
        devices=[(device_json(ref), readings) for ref, readings in devices],
    )
    decoded = ReadingsAccepted.model_validate_json(value)
    assert decoded == ReadingsAccepted(
        batch_id="b-1",
        received_at=received_at,
        devices=[
            DeviceReadings(
                device=ref,
                readings=[Reading(metric=m, value=v, ts=ts, flags=f) for m, v, ts, f in readings],
            )
            for ref, readings in devices
        ],
    )
