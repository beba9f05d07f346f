"""A person met for the first time: created on the other side, linked both ways (in Redis and in
both CRMs), and a second run writes nothing."""

from __future__ import annotations

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from worker.state.store import State
from worker.sync import Disposition, Run, SyncService

pytestmark = pytest.mark.integration


def test_a_lead_created_in_salesforce_appears_in_hubspot_linked_both_ways(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService, state: State
) -> None:
    org = sf_box.org
    lead = org.create(
        "Lead",
        {"FirstName": "Ada", "LastName": "Lovelace", "Company": "Engines", "Email": "Ada@Example.com"},
        org.admin_id,
    )
    outcome = service.sync_one(f"sf:Lead:{lead}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    contacts = list(hs_box.portal.stores["contacts"].records.values())
    assert len(contacts) == 1
    contact = contacts[0]
    assert contact.props["email"].lower() == "ada@example.com"
    assert contact.props["salesforce_lead_id"] == lead
    assert org.get("Lead", lead)["HubSpot_Contact_ID__c"] == str(contact.id)
    assert state.links.person_of([f"hs:contacts:{contact.id}"]) == {
        f"hs:contacts:{contact.id}": f"sf:Lead:{lead}"
    }
    base = state.bases.get(f"sf:Lead:{lead}")
    assert base is not None and base.hubspot_id == str(contact.id) and base.salesforce_id == lead

    again = service.sync_batch([f"sf:Lead:{lead}", f"hs:contacts:{contact.id}"], Run.new("test"))
    assert again.writes == 0, again.keys
    assert {o.disposition for o in again.keys.values()} == {Disposition.SYNCED}
