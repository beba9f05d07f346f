"""Pure cursor/window logic, tested alone."""

from __future__ import annotations

from typing import Any

import pytest

from worker.crm.hubspot.cursor import (
    Cursor,
    Delivered,
    PageQuery,
    Window,
    WindowPolicy,
    advance,
    after_page,
    first_query,
    open_window,
    record_key,
    should_deliver,
)


def rec(oid: int, ms: int) -> dict[str, Any]:
    return {
        "id": str(oid),
        "properties": {"lastmodifieddate": str(ms)},
        "updatedAt": "2026-01-01T00:00:00.000Z",
    }


def test_cursor_round_trips_and_orders_by_time_then_id() -> None:
    c = Cursor(1700000000000, 42)
    assert Cursor.decode(c.encode()) == c
    assert Cursor(5, 9) < Cursor(6, 1) and Cursor(5, 1) < Cursor(5, 2)


def test_window_closes_before_now_and_opens_before_cursor() -> None:
    policy = WindowPolicy(index_lag_margin_ms=30_000, lookback_ms=60_000)
    assert open_window(None, 1_000_000, policy) == Window(0, 970_000)
    assert open_window(Cursor(900_000, 1), 1_000_000, policy) == Window(840_000, 970_000)


def test_no_window_when_the_cursor_is_newer_than_the_window_end() -> None:
    policy = WindowPolicy(index_lag_margin_ms=30_000, lookback_ms=0)
    assert open_window(Cursor(990_000, 1), 1_000_000, policy) is None


def test_record_key_reads_iso_or_epoch_modified_dates() -> None:
    iso = {"id": "7", "properties": {"lastmodifieddate": "2023-11-14T22:13:20.000Z"}}
    assert record_key(iso) == (1700000000000, 7)
    deal = {"id": "8", "properties": {"hs_lastmodifieddate": "1700000000001"}}
    assert record_key(deal, "deals") == (1700000000001, 8)


def test_last_page_delivers_everything_and_ends() -> None:
    q = first_query(Window(0, 100))
    out = after_page(q, [rec(1, 10), rec(2, 10)], page_size=2, has_more=False)
    assert [r["id"] for r in out.deliver] == ["1", "2"] and out.next_query is None


def test_full_page_holds_back_the_trailing_millisecond_and_restarts_there() -> None:
    q = first_query(Window(0, 100))
    out = after_page(q, [rec(1, 10), rec(2, 11), rec(3, 12), rec(4, 12)], page_size=4, has_more=True)
    assert [r["id"] for r in out.deliver] == ["1", "2"]
    assert out.next_query == PageQuery(12, True, 100)
    assert out.next_query.body("lastmodifieddate", ["email"], 200)["filterGroups"][0]["filters"][0] == {
        "propertyName": "lastmodifieddate",
        "operator": "GTE",
        "value": "12",
    }


def test_page_all_in_one_millisecond_switches_to_walking_by_id() -> None:
    q = first_query(Window(0, 100))
    out = after_page(q, [rec(i, 50) for i in range(1, 5)], page_size=4, has_more=True)
    assert out.deliver == []
    assert out.next_query == PageQuery(50, True, 100, tie_ms=50, after_id=0)
    body = out.next_query.body("lastmodifieddate", [], 4)
    assert body["sorts"] == [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
    walk = after_page(out.next_query, [rec(i, 50) for i in range(1, 5)], page_size=4, has_more=True)
    assert len(walk.deliver) == 4 and walk.next_query is not None and walk.next_query.after_id == 4
    done = after_page(walk.next_query, [rec(5, 50)], page_size=4, has_more=False)
    assert [r["id"] for r in done.deliver] == ["5"]
    assert done.next_query == PageQuery(50, False, 100)


@pytest.mark.parametrize(
    ("key", "zone_start", "delivered", "expected"),
    [
        ((11, 1), None, False, True),  # after the cursor
        ((10, 5), None, False, False),  # the cursor itself
        ((10, 6), None, False, True),  # same ms, larger id
        ((9, 9), None, False, False),  # before the cursor, no lookback
        ((9, 9), 5, False, True),  # in the lookback zone, not seen
        ((9, 9), 5, True, False),  # in the lookback zone, seen already
        ((1, 9), 5, False, False),  # before the lookback zone
    ],
)
def test_should_deliver(
    key: tuple[int, int], zone_start: int | None, delivered: bool, expected: bool
) -> None:
    memory = Delivered()
    if delivered:
        memory.add(key)
    assert should_deliver(key, Cursor(10, 5), zone_start, memory.seen([key])) is expected


def test_lookback_reaches_only_what_the_previous_poll_could_have_missed() -> None:
    policy = WindowPolicy(index_lag_margin_ms=30_000, lookback_ms=60_000)
    # previous poll ran at 1_000_000 (window end 970_000): only changes after 940_000 could have been
    # invisible to it, so a cursor at 960_000 looks back to 940_000, not to 900_000
    assert open_window(Cursor(960_000, 1, 970_000), 1_010_000, policy) == Window(940_000, 980_000)
    # a cursor older than that horizon needs no lookback at all
    assert open_window(Cursor(500_000, 1, 970_000), 1_010_000, policy) == Window(500_000, 980_000)
    # a cursor saved without its window end falls back to lookback before the cursor
    assert open_window(Cursor(960_000, 1), 1_010_000, policy) == Window(900_000, 980_000)


def test_cursor_round_trips_with_and_without_its_window_end() -> None:
    for c in (Cursor(5, 6), Cursor(5, 6, 99)):
        assert Cursor.decode(c.encode()) == c and Cursor.decode(c.encode()).window_end_ms == c.window_end_ms
    assert Cursor(5, 6, 1) == Cursor(5, 6, 2)  # ordering and equality are on the key only


def test_delivered_memory_is_bounded() -> None:
    memory = Delivered(capacity=2)
    for k in ((1, 1), (2, 2), (3, 3)):
        memory.add(k)
    assert (1, 1) not in memory and (3, 3) in memory


def test_advance_never_moves_backwards() -> None:
    c = advance(Cursor(20, 1), [rec(5, 10)])
    assert c == Cursor(20, 1)
    assert advance(c, [rec(2, 20), rec(9, 30)]) == Cursor(30, 9)


def test_a_short_page_in_one_millisecond_never_repeats_the_same_query() -> None:
    q = first_query(Window(0, 100))
    out = after_page(q, [rec(1, 50), rec(2, 50)], page_size=200, has_more=True)
    assert out.next_query is not None and out.next_query.tie_ms == 50
