"""The pure part of Kafka inbound: a record is a readings CloudEvent (structured or binary
mode) with its items as they came, or a reason for the dead-letter topic, never anything else;
the items of several events map back to their event and index; runs stay within a bound."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskwatch.common.events.envelope import Envelope, PoisonMessage
from riskwatch.common.events.inbound import ReadingRejected, ReadingsReported
from riskwatch.ingest.inbound.domain import (
    InboundChannel,
    chunks,
    event_key,
    gather,
    parse_record,
    readings_of,
    rejections_of,
)
from riskwatch.ingest.readings.domain import Reason, Rejection

from .conftest import SOURCE, binary_mode, cloud_event, reading


def parse(value: Any, headers: list[tuple[str, bytes]] | None = None, max_items: int = 10) -> Any:
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    return parse_record(headers or [], raw, max_items=max_items)


def test_a_structured_event_gives_its_attributes_and_its_items_as_they_came() -> None:
    items = [reading("gas-1", 10), {"device_id": "gas-1", "value": "not checked here"}]
    event = cloud_event(
        items,
        id="e-1",
        subject="batch-7",
        time="2026-12-21T09:00:00+08:00",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    parsed = parse(event)
    assert isinstance(parsed.data, ReadingsReported)
    assert parsed.data.readings == items
    assert (parsed.id, parsed.source, parsed.subject) == ("e-1", SOURCE, "batch-7")
    assert parsed.time == datetime(2026, 12, 21, 1, 0, tzinfo=UTC)
    assert parsed.traceparent == event["traceparent"]
    assert parsed.type == "rw.readings.reported.v1"


def test_binary_mode_gives_the_same_event() -> None:
    event = cloud_event([reading("gas-1", 10)])
    headers, value = binary_mode(event)
    parsed = parse(value, headers)
    structured = parse(event)
    assert (parsed.id, parsed.source, parsed.time, parsed.data) == (
        structured.id,
        structured.source,
        structured.time,
        structured.data,
    )


def test_time_subject_and_datacontenttype_may_be_left_out() -> None:
    event = cloud_event([reading("gas-1", 10)])
    del event["time"], event["datacontenttype"]
    parsed = parse(event)
    assert parsed.subject is None
    assert parsed.time.tzinfo is not None


def without(name: str) -> dict[str, Any]:
    event = cloud_event([reading("gas-1", 10)])
    del event[name]
    return event


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "the record is empty"),
        (b"\x00\xffgarbage", "the record is not JSON"),
        ([1, 2], "not a CloudEvent: the value is not a JSON object"),
        ({"device_id": "gas-1", "value": 1}, "not a CloudEvent: no specversion"),
        (cloud_event([1], specversion="0.3"), "specversion '0.3' is not 1.0"),
        (without("id"), "the CloudEvent has no id"),
        (cloud_event([1], id=""), "the CloudEvent has no id"),
        (cloud_event([1], id=7), "id is not a string"),
        (without("source"), "the CloudEvent has no source"),
        (cloud_event([1], source="s" * 256), "source is longer than 255 characters"),
        (cloud_event([1], source="/a\n/b"), "source holds control characters"),
        (
            cloud_event([1], type="com.example.temperature"),
            "type 'com.example.temperature' is not taken here; rw.readings.reported.v1 is",
        ),
        (cloud_event([1], datacontenttype="text/csv"), "datacontenttype 'text/csv' is not"),
        (cloud_event([1], time="yesterday"), "time is not an RFC 3339 timestamp"),
        (cloud_event([1], time="2026-12-21T09:00:00"), "time is not an RFC 3339 timestamp"),
        (cloud_event([1], subject=3), "subject is not a string"),
        (without("data"), "the CloudEvent has no data"),
        ({**without("data"), "data_base64": "AAAA"}, "data_base64 is not taken"),
        (cloud_event([1], data=[reading("gas-1", 1)]), 'data is not an object {"readings"'),
        (
            cloud_event([1], data={"readings": [1], "site": "x"}),
            "data has unknown field(s): 'site'",
        ),
        (cloud_event([1], data={"items": [1]}), "data has unknown field(s): 'items'"),
        (cloud_event([1], data={"readings": {"a": 1}}), "data.readings is not a list"),
        (cloud_event([]), "data.readings is empty"),
        (cloud_event([1] * 11), "11 readings; at most 10 per event"),
    ],
)
def test_what_is_not_a_readings_cloud_event_is_poison_with_its_reason(
    value: Any, reason: str
) -> None:
    with pytest.raises(PoisonMessage) as caught:
        parse(value)
    assert str(caught.value).startswith(reason)


@pytest.mark.parametrize(
    ("headers", "value", "reason"),
    [
        ([("ce_specversion", b"1.0"), ("ce_id", b"\xff")], b"{}", "headers are not UTF-8"),
        (binary_mode(cloud_event([1]))[0], b"{nope", "data is not JSON"),
        (binary_mode(cloud_event([1]))[0], b"", "data is empty"),
        (binary_mode(cloud_event([1], type="x.y"))[0], b'{"readings": [1]}', "type 'x.y'"),
    ],
)
def test_binary_mode_records_are_checked_the_same_way(
    headers: list[tuple[str, bytes]], value: bytes, reason: str
) -> None:
    with pytest.raises(PoisonMessage) as caught:
        parse_record(headers, value, max_items=10)
    assert str(caught.value).startswith(reason)


def test_a_reason_never_carries_much_of_the_record() -> None:
    with pytest.raises(PoisonMessage) as caught:
        parse(cloud_event([1], type="t" * 10_000))
    assert len(str(caught.value)) < 200


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
attribute_names = st.sampled_from(
    ["specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data"]
)


@given(
    st.binary(max_size=200),
    st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=40)), max_size=6),
)
def test_any_bytes_and_headers_give_an_event_or_poison(
    value: bytes, headers: list[tuple[str, bytes]]
) -> None:
    """Anything else would stop the consumer's loop instead of dead-lettering the record."""
    with contextlib.suppress(PoisonMessage):
        parse_record(headers, value, max_items=10)


@given(st.dictionaries(attribute_names, json_values), st.dictionaries(attribute_names, json_values))
def test_any_json_object_gives_an_event_or_poison(
    changes: dict[str, Any], more: dict[str, Any]
) -> None:
    event = {**cloud_event([reading("gas-1", 1)]), **changes, **more}
    with contextlib.suppress(PoisonMessage):
        parse(event)


def test_an_event_is_known_by_its_source_and_id_together() -> None:
    def key(source: str, event_id: str) -> str:
        return event_key(parse(cloud_event([1], source=source, id=event_id)))

    assert key("/a", "1") == key("/a", "1")
    assert len({key("/a", "1"), key("/b", "1"), key("/a", "2"), key("/ab", "c")}) == 4
    assert key("/ab", "c") != key("/a", "bc")
    assert len(key("/" + "s" * 254, "i" * 255)) == 64  # fits the inbox's event_id column


@given(st.lists(st.integers(min_value=1, max_value=30), max_size=30), st.integers(1, 40))
def test_runs_keep_the_order_and_stay_within_the_limit(sizes: list[int], limit: int) -> None:
    runs = chunks(sizes, size=lambda n: n, limit=limit)
    assert [n for run in runs for n in run] == sizes
    for run in runs:
        assert len(run) == 1 or sum(run) <= limit


def envelope(items: list[Any], event_id: str) -> Envelope[ReadingsReported]:
    parsed: Envelope[ReadingsReported] = parse(cloud_event(items, id=event_id))
    return parsed


def test_rejections_name_the_event_and_the_index_the_item_had_in_it() -> None:
    events = [
        envelope([reading("gas-1", 3), reading("gas-2", 2)], "e-1"),
        envelope(["not a reading", reading("flood-1", 1), {"device_id": "x" * 200}], "e-2"),
    ]
    gathered = gather(events)
    assert len(gathered.items) == 5
    assert [readings_of(e) for e in events] == [gathered.items[:2], gathered.items[2:]]
    found = rejections_of(
        events,
        gathered,
        [
            Rejection(1, Reason.UNKNOWN_DEVICE, "device 'gas-2' is not registered"),
            Rejection(2, Reason.INVALID_ITEM, "each reading must be a JSON object"),
            Rejection(3, Reason.SECTOR_NOT_SERVED, "this ingest instance does not serve ..."),
            Rejection(4, Reason.INVALID_DEVICE_ID, "device_id must be ..."),
        ],
        sector=InboundChannel.of("construction").sector,
    )
    assert [event.id for event, _ in found] == ["e-1", "e-2", "e-2", "e-2"]
    assert [r for _, r in found] == [
        ReadingRejected(
            ce_id="e-1",
            source=SOURCE,
            index=1,
            device_id="gas-2",
            reason="unknown_device",
            detail="device 'gas-2' is not registered",
        ),
        ReadingRejected(
            ce_id="e-2",
            source=SOURCE,
            index=0,
            device_id=None,
            reason="invalid_item",
            detail="each reading must be a JSON object",
        ),
        ReadingRejected(
            ce_id="e-2",
            source=SOURCE,
            index=1,
            device_id="flood-1",
            reason="sector_not_served",
            detail="device 'flood-1' is not in sector 'construction', whose topic this is",
        ),
        ReadingRejected(
            ce_id="e-2",
            source=SOURCE,
            index=2,
            device_id=None,  # too long to be an id: not echoed back
            reason="invalid_device_id",
            detail="device_id must be ...",
        ),
    ]


def test_a_sectors_channel_names_its_topics_and_group() -> None:
    assert InboundChannel.of("construction") == InboundChannel(
        sector="construction",
        topic="rw.construction.inbound",
        group="ingest-inbound.construction",
        rejections="rw.construction.inbound.rejections",
    )
