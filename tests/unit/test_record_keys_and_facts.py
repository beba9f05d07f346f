"""Record keys parse strictly; Salesforce rows become the planner's facts."""

from __future__ import annotations

import pytest

from worker.errors import InputError
from worker.records import EMPTY_FACTS, Opportunity
from worker.sync.facts import salesforce_facts
from worker.sync.keys import RecordKey


@pytest.mark.parametrize(
    "text", ["sf:Lead:00Q5e00000AbCdEEAV", "sf:Contact:0035e00000XyZ12AAA", "hs:contacts:1234"]
)
def test_a_record_key_round_trips(text: str) -> None:
    assert str(RecordKey.parse(text)) == text


def test_a_15_character_salesforce_id_names_the_same_record_as_its_18_character_form() -> None:
    # the case-safe suffix per Salesforce's CASESAFEID: chunk "00Q5e" has a capital at 2 → 4 → E,
    # "00000" → A, "AbCdE" has capitals at 0, 2, 4 → 1 + 4 + 16 = 21 → V
    assert RecordKey.parse("sf:Lead:00Q5e00000AbCdE") == RecordKey.parse("sf:Lead:00Q5e00000AbCdEEAV")


@pytest.mark.parametrize(
    "text",
    [
        "sf:Account:0015e00000AbCdE",
        "sf:Lead:short",
        "sf:Lead:00Q5e00000AbCdEaaa",
        "sf:Lead:00Q5e00000AbCdE:extra",
        "hs:contacts:0123",
        "hs:contacts:-1",
        "hs:contacts:" + "9" * 20,
        "hs:deals:12",
        "xx:contacts:12",
        "hs:contacts:../../etc/passwd",
        "",
    ],
)
def test_anything_else_is_an_input_error(text: str) -> None:
    with pytest.raises(InputError):
        RecordKey.parse(text)


def test_dirty_set_parts_convert_both_ways() -> None:
    key = RecordKey.from_dirty("hubspot", "contacts", "77")
    assert str(key) == "hs:contacts:77" and key.dirty_parts() == ("hubspot", "contacts", "77")


def test_a_lead_row_gives_its_converted_opportunity_calls_and_meetings() -> None:
    row = {
        "attributes": {"type": "Lead"},
        "Id": "00Q5e00000AbCdE",
        "IsConverted": True,
        "ConvertedOpportunityId": "0065e00000Opp01",
        "ConvertedOpportunity": {"StageName": "Closed Won", "IsClosed": True, "IsWon": True},
        "ConvertedAccount": {"Type": "Customer"},
        "Tasks": {"records": [{"Id": "00T1"}, {"Id": "00T2"}]},
        "Events": {"records": [{"Id": "00U1"}]},
    }
    facts = salesforce_facts(row)
    assert facts.opportunities == (Opportunity("0065e00000Opp01", "Closed Won", True, True),)
    assert facts.account_is_customer and facts.converted
    assert facts.completed_calls == {"00T1", "00T2"} and facts.meetings == {"00U1"}


def test_a_contact_row_gives_opportunities_through_roles_and_a_churned_account() -> None:
    row = {
        "attributes": {"type": "Contact"},
        "Id": "0035e00000XyZ12",
        "AccountId": "0015e00000Acc01",
        "Account": {"Type": "Former Customer"},
        "OpportunityContactRoles": {
            "records": [
                {"OpportunityId": "006A", "Opportunity": {"StageName": "Prospecting", "IsClosed": False}}
            ]
        },
        "Tasks": None,
        "Events": None,
    }
    facts = salesforce_facts(row)
    assert [o.state for o in facts.opportunities] == ["open"]
    assert facts.account_churned and not facts.account_is_customer


def test_a_row_without_facts_is_the_empty_facts() -> None:
    assert (
        salesforce_facts({"attributes": {"type": "Lead"}, "Id": "00Q5e00000AbCdE", "IsConverted": False})
        is EMPTY_FACTS
    )
