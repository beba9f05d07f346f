"""Polls turn each CRM's changes into person keys in the dirty set, and cursors only move past what is
queued: a new lead, a task or an opportunity on a person, a deletion (with the merge survivor), a HubSpot
contact, a merge, a deal on a contact. Changes are made through the CRMs' public APIs."""

from __future__ import annotations

import time
from typing import Any

import pytest
from simple_salesforce.api import Salesforce

from worker.capture import HubSpotCapture, SalesforceCapture
from worker.crm.hubspot import HubSpotAdapter
from worker.crm.salesforce import SalesforceAdapter
from worker.state.cursors import CursorStore
from worker.state.dirty import DirtySet

pytestmark = pytest.mark.integration
CONTACT_TO_DEAL = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}


def _lead(sf_api: Salesforce, email: str) -> str:
    return str(sf_api.Lead.create({"LastName": "Lovelace", "Company": "Engines", "Email": email})["id"])


def test_a_new_lead_is_marked_once_per_version_despite_the_lookback(
    sf: SalesforceAdapter, sf_api: Salesforce, redis_client: Any
) -> None:
    cursors, dirty = CursorStore(redis_client), DirtySet(redis_client, "salesforce")
    capture = SalesforceCapture(sf, cursors, dirty, related=())
    capture.poll()  # first poll: cursors start now
    lead_id = _lead(sf_api, "ada@example.com")

    report = capture.poll()
    assert dirty.members("Lead") == {lead_id}
    assert report.seen["Lead"] >= 1 and cursors.get("salesforce", "Lead") is not None

    time.sleep(2.1)  # the lead's SystemModstamp second is over: a later edit gets a new one
    capture.poll()  # re-marks the lead (its second was open at the last poll) and remembers it now
    dirty.pop("Lead", 10)
    capture.poll()  # the lookback re-reads the lead, but that version was queued already
    assert dirty.size("Lead") == 0 and dirty.size("Contact") == 0

    sf_api.Lead.update(lead_id, {"Title": "Countess"})
    capture.poll()  # a new version of the same lead is queued again
    assert dirty.members("Lead") == {lead_id}


def test_activity_and_opportunity_changes_mark_the_people_they_concern(
    sf: SalesforceAdapter, sf_api: Salesforce, redis_client: Any
) -> None:
    dirty = DirtySet(redis_client, "salesforce")
    capture = SalesforceCapture(sf, CursorStore(redis_client), dirty)
    lead_id = _lead(sf_api, "grace@example.com")
    account_id = sf_api.Account.create({"Name": "Navy"})["id"]
    contact_id = sf_api.Contact.create({"LastName": "Hopper", "AccountId": account_id})["id"]
    capture.poll()
    dirty.pop("Lead", 10)
    dirty.pop("Contact", 10)

    sf_api.Task.create({"WhoId": lead_id, "Subject": "Call", "Type": "Call", "Status": "Completed"})
    opp_id = sf_api.Opportunity.create(
        {"Name": "Deal", "AccountId": account_id, "StageName": "Prospecting", "CloseDate": "2026-12-31"}
    )["id"]
    sf_api.OpportunityContactRole.create({"OpportunityId": opp_id, "ContactId": contact_id})
    capture.poll()
    assert dirty.members("Lead") == {lead_id}
    assert contact_id in dirty.members("Contact")


@pytest.mark.slow
def test_a_deleted_lead_is_marked_once_its_minute_is_covered(
    sf: SalesforceAdapter, sf_api: Salesforce, redis_client: Any
) -> None:
    """``sobjects/Lead/deleted`` covers whole minutes only, so the deletion shows within about a minute."""
    dirty = DirtySet(redis_client, "salesforce")
    capture = SalesforceCapture(sf, CursorStore(redis_client), dirty, related=())
    lead_id = _lead(sf_api, "linus@example.com")
    capture.poll()
    dirty.pop("Lead", 10)

    sf_api.Lead.delete(lead_id)
    deadline = time.monotonic() + 75
    while not dirty.members("Lead") and time.monotonic() < deadline:
        report = capture.poll()
        time.sleep(1)
    assert dirty.members("Lead") == {lead_id}
    assert report.seen["Lead:deleted"] == 1


def test_hubspot_contacts_merges_and_deals_mark_contacts(
    hs: HubSpotAdapter, hs_api: Any, redis_client: Any
) -> None:
    from hubspot.crm.contacts import SimplePublicObjectInputForCreate

    dirty = DirtySet(redis_client, "hubspot")
    capture = HubSpotCapture(hs, CursorStore(redis_client), dirty)
    capture.poll()
    one = hs_api.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "one@example.com"})
    ).id
    two = hs_api.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "two@example.com"})
    ).id
    capture.poll()
    assert dirty.members("contacts") == {one, two}
    dirty.pop("contacts", 10)

    hs_api.crm.contacts.basic_api.merge({"primaryObjectId": one, "objectIdToMerge": two})
    capture.poll()
    assert dirty.members("contacts") == {one, two}
    dirty.pop("contacts", 10)

    hs_api.crm.deals.basic_api.create(
        {
            "properties": {"dealname": "Big", "dealstage": "appointmentscheduled", "pipeline": "default"},
            "associations": [
                {
                    "to": {"id": one},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}],
                }
            ],
        }
    )
    capture.poll()
    assert dirty.members("contacts") == {one}
