"""The sandbox's SOQL parser and engine, in process (no HTTP), and the compound cursor against it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simple_salesforce.format import format_soql

from sandbox.salesforce import errors as sf_errors
from sandbox.salesforce import soql
from sandbox.salesforce.engine import run_query
from sandbox.salesforce.models import Org
from worker.crm.salesforce.cursor import Watermark, after_condition, position_of


@pytest.mark.parametrize(
    ("literal", "epoch_ms"),
    [
        ("2026-01-01T00:00:00Z", 1767225600000),
        ("2026-01-01T00:00:00+00:00", 1767225600000),
        ("2026-01-01T01:00:00+01:00", 1767225600000),
        ("2025-12-31T19:00:00-05:00", 1767225600000),
        ("2026-01-01T00:00:00.000+0000", 1767225600000),
    ],
)
def test_datetime_literal_forms(literal: str, epoch_ms: int) -> None:
    q = soql.parse(f"SELECT Id FROM Lead WHERE SystemModstamp > {literal}")
    assert isinstance(q.where, soql.Comparison) and isinstance(q.where.value, soql.Literal)
    assert q.where.value.value == epoch_ms


def test_string_escapes_round_trip_format_soql() -> None:
    text = format_soql("SELECT Id FROM Lead WHERE Email = {}", "o'brien\\x@example.com")
    q = soql.parse(text)
    assert isinstance(q.where, soql.Comparison) and isinstance(q.where.value, soql.Literal)
    assert q.where.value.value == "o'brien\\x@example.com"


@pytest.mark.parametrize(
    "text",
    [
        "SELECT Id FROM Lead WHERE Email = 'a' AND Phone = 'b' OR Title = 'c'",
        "SELECT Id FROM Lead WHERE",
        "SELECT FROM Lead",
        "SELECT Id FROM Lead LIMIT x",
        "SELECT Id FROM Lead WHERE Email = 'unterminated",
    ],
)
def test_malformed(text: str) -> None:
    with pytest.raises(sf_errors.MalformedQuery):
        soql.parse(text)


def test_parenthesised_mixing_is_fine() -> None:
    q = soql.parse("SELECT Id FROM Lead WHERE (Email = 'a' AND Phone = 'b') OR NOT Title IN ('c', 'd')")
    assert isinstance(q.where, soql.BoolOp) and q.where.op == "OR"


@settings(max_examples=40, deadline=None)
@given(
    stamps=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=60),
    page=st.integers(min_value=1, max_value=7),
)
def test_compound_cursor_never_skips_or_repeats(stamps: list[int], page: int) -> None:
    """Reading in LIMIT-sized polls from the compound cursor returns every row exactly once, however
    many rows share a SystemModstamp."""
    org = Org()
    base = 1_767_225_600_000
    ids = {
        org.create_raw("Lead", {"LastName": "x", "Company": "c"}, org.admin_id, at_ms=base + s * 1000)
        for s in stamps
    }
    mark = Watermark()
    seen: list[str] = []
    for _ in range(len(stamps) + 2):
        where, args = after_condition(mark)
        text = format_soql(
            f"SELECT Id, SystemModstamp FROM Lead WHERE {where} ORDER BY SystemModstamp, Id LIMIT {page}",
            *args,
        )
        rows = run_query(org, text, "59.0", False, 2000)["records"]
        if not rows:
            break
        seen += [r["Id"] for r in rows]
        mark = position_of(rows[-1])
    assert sorted(seen) == sorted(ids) and len(seen) == len(ids)


def test_docs_route_table_is_current() -> None:
    from pathlib import Path

    from sandbox.salesforce.routes import coverage_table

    docs = (Path(__file__).resolve().parents[3] / "docs" / "salesforce.md").read_text()
    between = docs.split("<!-- routes:start -->\n", 1)[1].split("<!-- routes:end -->", 1)[0]
    assert between == coverage_table(), "regenerate with: python -m sandbox.salesforce.routes"


def test_value_index_tracks_shared_and_changed_values() -> None:
    org = Org()
    admin = org.admin_id
    a = org.create("Lead", {"LastName": "a", "Company": "c", "Email": "same@example.com"}, admin)
    b = org.create("Lead", {"LastName": "b", "Company": "c", "Email": "SAME@example.com"}, admin)
    store = org.stores["Lead"]
    assert store.lookup("Email", "same@example.com") == {a, b}
    org.update("Lead", b, {"Email": "other@example.com"}, admin)
    assert store.lookup("Email", "same@example.com") == {a}
    assert store.lookup("Email", "other@example.com") == {b}
    org.update("Lead", a, {"Email": None}, admin)
    assert store.lookup("Email", "same@example.com") == set()
    rows = run_query(org, "SELECT Id FROM Lead WHERE Email = null", "59.0", False, 2000)["records"]
    assert [r["Id"] for r in rows] == [a]
