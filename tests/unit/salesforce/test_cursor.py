"""The compound (SystemModstamp, Id) watermark, alone."""

from __future__ import annotations

import datetime as dt

from simple_salesforce.format import format_soql

from worker.crm.salesforce.cursor import (
    EPOCH,
    Watermark,
    advance,
    after_condition,
    parse_sf_datetime,
    poll_start,
)

T = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


def rec(ts: str, rid: str) -> dict[str, str]:
    return {"SystemModstamp": ts, "Id": rid}


def test_parse_rest_datetime_forms() -> None:
    assert parse_sf_datetime("2026-03-01T12:00:00.000+0000") == T
    assert parse_sf_datetime("2026-03-01T13:00:00.000+0100") == T
    assert parse_sf_datetime("2026-03-01T12:00:00Z") == T


def test_advance_takes_max_pair_and_never_goes_back() -> None:
    mark = Watermark(T, "00Q000000000005AAA")
    same_second = [rec("2026-03-01T12:00:00.000+0000", "00Q000000000009AAA")]
    assert advance(mark, same_second) == Watermark(T, "00Q000000000009AAA")
    older = [rec("2026-03-01T11:00:00.000+0000", "00Q00000000000zAAA")]
    assert advance(mark, older) == mark


def test_after_condition_compound() -> None:
    where, args = after_condition(Watermark(T, "00Q000000000005AAA"))
    assert format_soql(where, *args) == (
        "(SystemModstamp > 2026-03-01T12:00:00+00:00 OR (SystemModstamp = 2026-03-01T12:00:00+00:00 "
        "AND Id > '00Q000000000005AAA'))"
    )


def test_poll_start_applies_lookback_from_any_id() -> None:
    mark = Watermark(T, "00Q000000000005AAA")
    assert poll_start(mark, dt.timedelta(0)) == mark
    start = poll_start(mark, dt.timedelta(minutes=5))
    assert start == Watermark(T - dt.timedelta(minutes=5), "")
    where, args = after_condition(start)
    assert format_soql(where, *args) == "SystemModstamp >= 2026-03-01T11:55:00+00:00"


def test_initial_watermark_reads_everything() -> None:
    assert poll_start(Watermark(), dt.timedelta(minutes=5)) == Watermark(EPOCH, "")


def test_watermark_json_round_trip() -> None:
    mark = Watermark(T, "00Q000000000005AAA")
    assert Watermark.from_json(mark.to_json()) == mark
