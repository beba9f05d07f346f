"""Matching people by email in Salesforce: however long or escape-heavy the emails, every query fits
a GET URL (Salesforce answers 414 past 16,384 bytes, and the adapter refuses such a query as fatal,
which would pause Salesforce for everyone), each email is in exactly one query, and a value too long to
be an email is not matched at all. Dead letters cut values too long to read."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import fuzz
from worker.crm.salesforce import queries
from worker.state.deadletters import MAX_VALUE_CHARS, DeadLetter, FailedWrite
from worker.sync.service import MAX_EMAIL, normalise_email


def build(chunk: list[str]) -> str:
    return queries.select(["Id", "Email"], "Lead", "Email IN {}", [chunk])


@fuzz(60)
@given(
    st.lists(
        st.text(alphabet="a'\\%_ é@.", min_size=1, max_size=80).map(lambda s: s + "@example.com"),
        max_size=400,
        unique=True,
    )
)
def test_every_email_is_in_one_query_and_every_query_fits(emails: list[str]) -> None:
    built = list(queries.fitting(emails, build, max_items=200))
    assert all(queries.query_param_bytes(q) <= queries.MAX_QUERY_PARAM_BYTES for q in built)
    assert sum(q.count("@example.com") for q in built) == len(emails)


def test_two_hundred_long_escaped_emails_are_split() -> None:
    emails = [f"{n:03d}" + "'" * 60 + "@example.com" for n in range(200)]
    built = list(queries.fitting(emails, build, max_items=200))
    assert len(built) > 1
    assert all(queries.query_param_bytes(q) <= queries.MAX_QUERY_PARAM_BYTES for q in built)


def test_a_value_too_long_to_be_an_email_is_not_one() -> None:
    assert normalise_email(" Ada@Example.com ") == "ada@example.com"
    assert normalise_email("a" * (MAX_EMAIL - 12) + "@example.com") is not None
    assert normalise_email("a" * MAX_EMAIL + "@example.com") is None


def test_a_dead_letter_cuts_a_huge_value_and_says_how_long_it_was() -> None:
    huge = "L" * 1_000_000
    letter = DeadLetter(
        "hs:contacts:1",
        "rejected",
        (
            FailedWrite(
                "salesforce", "create", "Lead", None, {"LastName": huge}, "STRING_TOO_LONG", "x", "rejected"
            ),
        ),
        plan={"values": {"lastname": huge}, "writes": [[huge, huge]]},
    )
    raw = letter.to_json()
    assert len(raw) < 5 * MAX_VALUE_CHARS + 1_000
    doc = json.loads(raw)
    assert doc["writes"][0]["fields"]["LastName"].endswith("… [cut: 1,000,000 characters]")
    assert doc["plan"]["values"]["lastname"].startswith("L" * MAX_VALUE_CHARS)
