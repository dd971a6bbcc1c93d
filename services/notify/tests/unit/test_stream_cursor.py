"""The live stream's cursor: what goes out as an event id comes back as the same cursor, every
other Last-Event-ID is refused as a 422 problem (never a crash or a 500), and cursors order as
the stream hands rows out, by transaction id and then sequence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskwatch.notify.notifications.stream import BIGINT_MAX, Cursor, InvalidCursor
from riskwatch.notify.notifications.stream_router import ack_url

bigints = st.integers(min_value=0, max_value=BIGINT_MAX)
cursors = st.builds(Cursor, bigints, bigints)


@given(cursors)
def test_an_event_id_reads_back_as_its_cursor(cursor: Cursor) -> None:
    assert Cursor.parse(str(cursor)) == cursor


# Mostly near misses: digits, a dash, leading zeros, too many digits.
near_misses = st.from_regex(r"[0-9]{1,21}-[0-9]{1,21}", fullmatch=True)


@given(near_misses | st.text())
def test_any_text_is_a_cursor_spelled_exactly_so_or_refused(text: str) -> None:
    try:
        cursor = Cursor.parse(text)
    except InvalidCursor:
        return  # refused as a problem (422), never another exception
    assert str(cursor) == text  # one spelling per cursor


@given(cursors, cursors)
def test_cursors_order_by_transaction_then_sequence(a: Cursor, b: Cursor) -> None:
    assert (a < b) == ((a.txid, a.seq) < (b.txid, b.seq))


@given(bigints, bigints)
def test_the_start_of_a_transaction_is_before_each_of_its_rows(txid: int, seq: int) -> None:
    start = Cursor.before(txid)
    row = Cursor(txid, max(seq, 1))  # sequences are identities: they start at 1
    assert start < row
    if txid > 0:
        assert Cursor(txid - 1, seq) < start  # and after every row of earlier transactions


@pytest.mark.parametrize(
    "text",
    [
        "",
        "12",
        "12-",
        "-12",
        "1-2-3",
        "01-2",
        "1-02",
        "+1-2",
        "1 -2",
        " 1-2",
        "1-2\n",
        "0x1-2",
        "\u0661-\u0662",  # Arabic-Indic digits: int() takes them, the stream never sends them
        f"{BIGINT_MAX + 1}-1",
        f"1-{BIGINT_MAX + 1}",
        "9" * 20 + "-1",
        "ready",
    ],
)
def test_a_malformed_last_event_id_is_refused(text: str) -> None:
    with pytest.raises(InvalidCursor) as refused:
        Cursor.parse(text)
    assert (refused.value.status, refused.value.code) == (422, "invalid-last-event-id")


def test_the_largest_cursor_is_accepted() -> None:
    assert Cursor.parse(f"{BIGINT_MAX}-{BIGINT_MAX}") == Cursor(BIGINT_MAX, BIGINT_MAX)


@pytest.mark.parametrize(("txid", "seq"), [(-1, 1), (1, -1), (BIGINT_MAX + 1, 0)])
def test_a_cursor_out_of_bigint_range_cannot_be_made(txid: int, seq: int) -> None:
    with pytest.raises(ValueError, match="two bigints"):
        Cursor(txid, seq)


@given(st.text(min_size=1, max_size=64))
def test_the_ack_url_is_one_path_segment_per_id(notification_id: str) -> None:
    url = ack_url(notification_id)
    assert url.startswith("/api/v1/notifications/")
    assert url.endswith("/ack")
    assert url.count("/") == 5  # an id with a slash cannot point at another route
