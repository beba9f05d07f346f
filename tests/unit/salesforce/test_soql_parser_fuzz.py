"""Hypothesis over the sandbox's SOQL parser: any text is a query or Salesforce's own error (never a
crash, so never a 500), and a value escaped with ``format_soql`` — quotes, backslashes, SOQL operators
and keywords inside it — is one literal that never changes the query's meaning."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from simple_salesforce.format import format_soql

from sandbox.salesforce.errors import SalesforceApiError
from sandbox.salesforce.soql import Comparison, Literal, Query, parse
from tests.fuzzing import fuzz

SOQL_BITS = st.sampled_from(
    [
        "SELECT",
        "Id",
        "Email",
        "FROM",
        "Lead",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "=",
        "!=",
        "<",
        ">=",
        "(",
        ")",
        ",",
        "'",
        "\\",
        "'a'",
        "1",
        "null",
        "true",
        "LAST_N_DAYS:3",
        "ORDER BY",
        "LIMIT",
        "OFFSET",
        "2026-01-01T00:00:00Z",
        "(SELECT Id FROM Tasks)",
    ]
)
HOSTILE = st.lists(
    st.one_of(
        st.sampled_from([*"'\"\\%_()=<>!,;\n\t", " OR ", " AND ", "--", "/*", "' OR Id != '"]),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    max_size=30,
).map("".join)


@fuzz(400)
@given(st.one_of(st.text(max_size=300), st.lists(SOQL_BITS, max_size=25).map(" ".join)))
def test_any_text_is_a_query_or_salesforces_own_error(text: str) -> None:
    try:
        query = parse(text)
    except SalesforceApiError as exc:
        assert exc.args and str(exc)  # the error Salesforce answers, with its message
    else:
        assert isinstance(query, Query) and query.object


@fuzz(400)
@given(HOSTILE)
def test_an_escaped_value_is_one_literal_whatever_it_contains(value: str) -> None:
    query = parse(format_soql("SELECT Id FROM Lead WHERE Email = {} LIMIT 5", value))
    assert query.object == "Lead" and query.fields == ["Id"] and query.limit == 5
    assert isinstance(query.where, Comparison)
    assert (query.where.field, query.where.op) == ("Email", "=")
    assert query.where.value == Literal("string", value)


@fuzz(200)
@given(st.lists(HOSTILE, min_size=1, max_size=5))
def test_escaped_values_in_an_in_list_stay_that_many_literals(values: list[str]) -> None:
    query = parse(format_soql("SELECT Id FROM Contact WHERE Email IN {}", values))
    assert isinstance(query.where, Comparison) and query.where.op == "IN"
    assert query.where.value == [Literal("string", v) for v in values]
