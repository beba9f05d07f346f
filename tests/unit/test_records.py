"""Normalising the CRMs' own JSON into the core's records."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.errors import InputError
from worker.records import base_from_json, base_to_json, facts_from_json, hubspot_record, salesforce_record


def test_salesforce_lead_from_rest_json() -> None:
    rec = salesforce_record(
        {
            "attributes": {"type": "Lead", "url": "/services/data/v59.0/sobjects/Lead/00Q1"},
            "Id": "00Q1",
            "Status": "Working",
            "NumberOfEmployees": 40,
            "IsConverted": True,
            "ConvertedContactId": "0031",
            "Owner": {"attributes": {"type": "User"}, "Name": "Sam"},
            "SystemModstamp": "2024-01-02T03:04:05.000+0000",
        }
    )
    assert rec.object_type == "Lead" and rec.id == "00Q1"
    assert rec.get("Status") == "Working" and rec.get("NumberOfEmployees") == "40"
    assert "Owner" not in rec.values  # relationship objects are not fields
    assert rec.is_converted and rec.converted_contact_id == "0031"
    assert rec.modified_ms == 1704164645000


def test_hubspot_contact_from_v3_json() -> None:
    rec = hubspot_record(
        {
            "id": "51",
            "properties": {"email": "a@x.com", "lifecyclestage": "lead"},
            "updatedAt": "2019-12-07T16:50:06.678Z",
        }
    )
    assert rec.id == "51" and rec.get("lifecyclestage") == "lead"
    assert rec.modified_ms == 1575737406678


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"Id": "00Q1"}, "attributes.type must be 'Lead' or 'Contact'"),
        ({"attributes": {"type": "Lead"}}, "'Id' is missing"),
        ({"attributes": {"type": "Lead"}, "Id": "00Q1", "SystemModstamp": "yesterday"}, "not an ISO-8601"),
        ([], "expected a JSON object"),
    ],
)
def test_bad_salesforce_json_is_refused_with_the_key(raw: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        salesforce_record(raw)


def test_bad_hubspot_json_is_refused() -> None:
    with pytest.raises(InputError, match="properties"):
        hubspot_record({"id": "1", "properties": ["x"]})


def test_facts_refuse_unknown_keys() -> None:
    with pytest.raises(InputError, match="unknown keys"):
        facts_from_json({"opportunites": []})


def test_base_round_trips_through_json() -> None:
    raw = {
        "values": {"stage": "mql", "status": None},
        "salesforce_values": {"stage": "Marketing Qualified Lead"},
        "hubspot_values": {"stage": "marketingqualifiedlead"},
        "facts": {"opportunities": [{"id": "006", "state": "open"}], "meetings": ["00U"]},
        "salesforce": {"object": "Lead", "id": "00Q1"},
        "hubspot": {"id": "51"},
    }
    base = base_from_json(raw)
    assert base_from_json(base_to_json(base)) == base
    assert base.facts.opportunities == (("006", "open"),)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
KEYS = [
    *("attributes", "type", "Id", "id", "properties", "opportunities", "values", "facts", "updatedAt"),
    *("SystemModstamp", "IsConverted", "meetings", "completed_calls", "state", "salesforce", "hubspot"),
]
SHAPED = st.dictionaries(st.sampled_from(KEYS), JSON, max_size=6)


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(JSON, SHAPED))
def test_any_json_is_either_normalised_or_refused_with_input_error(raw: object) -> None:
    """Bad input gets a clear error: never a TypeError or KeyError from deep inside."""
    for parse in (salesforce_record, hubspot_record, facts_from_json, base_from_json):
        with contextlib.suppress(InputError):
            parse(raw)


LEAD = {"attributes": {"type": "Lead"}, "Id": "00Q1", "Email": "a@example.com"}


@pytest.mark.parametrize(
    ("parse", "raw", "key", "message"),
    [
        (salesforce_record, {**LEAD, "Email": ["a@example.com"]}, ("Email",), "got a list"),
        (salesforce_record, {**LEAD, "Email": {"value": "a"}}, ("Email",), "got an object"),
        (salesforce_record, {**LEAD, "IsConverted": "yes"}, ("IsConverted",), "expected true or false"),
        (salesforce_record, {**LEAD, "IsDeleted": 1}, ("IsDeleted",), "expected true or false"),
        (salesforce_record, {**LEAD, "ConvertedContactId": 3}, ("ConvertedContactId",), "expected text"),
        (hubspot_record, {"id": 51}, ("id",), "not text"),
        (hubspot_record, {"id": "51", "properties": {"email": 5}}, ("properties", "email"), "got a number"),
        (hubspot_record, {"id": "51", "archived": "no"}, ("archived",), "expected true or false"),
        (facts_from_json, {"opportunities": [{"id": "006", "StageName": 7}]},
         ("opportunities", 0, "StageName"), "expected text"),
        (facts_from_json, {"converted": "true"}, ("converted",), "expected true or false"),
        (base_from_json, {"values": {"stage": 3}}, ("values", "stage"), "expected text or null"),
        (base_from_json, {"hubspot": {"id": 51}}, ("hubspot", "id"), "expected text or null"),
    ],
)  # fmt: skip
def test_a_wrong_type_is_refused_with_its_key_never_coerced(
    parse: Any, raw: object, key: tuple[str | int, ...], message: str
) -> None:
    with pytest.raises(InputError, match=message) as refused:
        parse(raw)
    assert refused.value.key == key


def test_relationships_and_compound_addresses_are_not_field_values() -> None:
    rec = salesforce_record(
        {
            **LEAD,
            "Owner": {"attributes": {"type": "User"}, "Name": "Ann"},
            "Tasks": {"totalSize": 0, "done": True, "records": []},
            "Address": {"city": "Leeds", "country": "UK", "street": None},
        }
    )
    assert set(rec.values) == {"Id", "Email"}
