"""Normalising the CRMs' own JSON into the core's records."""

from __future__ import annotations

import pytest

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
