"""``worker.sync.echo``: a record read fresh is an echo (nothing its base does not know) exactly when every
planner input it carries is what the last sync stored; any change, new fact, conversion or broken link
is not, so the other side is read and the person planned."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.unit.journeys import apply_plan, facts, hs_contact, replan, sf_lead, shipped
from worker.plan import plan
from worker.records import Base, HubSpotRecord, SalesforceRecord
from worker.sync.echo import hubspot_unchanged, salesforce_unchanged

CMAP = shipped("default")
MQL, WORKING = "Marketing Qualified Lead", "Working"


def synced() -> tuple[SalesforceRecord, HubSpotRecord, Base]:
    """A pair in agreement and the base its sync stored."""
    lead, contact = (
        sf_lead(stage=MQL, status=WORKING),
        hs_contact(stage="marketingqualifiedlead", status="IN_PROGRESS"),
    )
    first = plan(lead, contact, None, facts(), CMAP)
    assert replan(first, lead, contact, facts(), CMAP).writes == ()
    lead, contact = apply_plan(first, lead, contact)
    return lead, contact, first.new_base


def test_the_records_a_sync_left_are_echoes() -> None:
    lead, contact, base = synced()
    assert salesforce_unchanged(lead, facts(), base, CMAP)
    assert hubspot_unchanged(contact, base, CMAP)


@pytest.mark.parametrize(
    ("change", "fact"),
    [
        ({"Status": "Meeting Set"}, {}),  # a synced field
        ({"Phone": "+1 555 0100"}, {}),
        ({"HubSpot_Contact_ID__c": "9999"}, {}),  # the link to its partner
        ({"IsConverted": True, "ConvertedContactId": "0035e00000XyZaBAAV"}, {}),
        ({}, {"completed_calls": ["00T1"]}),  # a related fact the base has not seen
        ({}, {"opportunities": [{"id": "006A", "is_closed": False, "is_won": False}]}),
        ({}, {"account_is_customer": True}),
    ],
)
def test_a_salesforce_change_is_not_an_echo(change: dict[str, Any], fact: dict[str, Any]) -> None:
    lead, _, base = synced()
    edited = sf_lead(stage=MQL, status=WORKING, **{**dict(lead.values), **change})
    assert not salesforce_unchanged(edited, facts(**fact), base, CMAP)


@pytest.mark.parametrize(
    "change",
    [
        {"hs_lead_status": "CONNECTED"},
        {"phone": "+1 555 0100"},
        {"salesforce_lead_id": ""},
        {"hs_merged_object_ids": "7"},
    ],
)
def test_a_hubspot_change_is_not_an_echo(change: dict[str, Any]) -> None:
    _, contact, base = synced()
    edited = replace(contact, properties={**contact.properties, **change})
    assert not hubspot_unchanged(edited, base, CMAP)


def test_a_base_without_a_side_s_values_is_no_proof() -> None:
    lead, contact, base = synced()
    bare = replace(base, salesforce_values={}, hubspot_values={})
    assert not salesforce_unchanged(lead, facts(), bare, CMAP)
    assert not hubspot_unchanged(contact, bare, CMAP)
