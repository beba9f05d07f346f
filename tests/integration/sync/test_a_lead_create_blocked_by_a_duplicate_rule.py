"""A Salesforce Lead the sync creates for a HubSpot contact is refused by the org's duplicate rules
(``DUPLICATES_DETECTED``, issue 10 item 6): when the match is the same person by email and belongs to
nobody else the person is linked to it (never a second lead); otherwise the person is dead-lettered
naming the match."""

from __future__ import annotations

import threading
import time

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from worker.state.store import State
from worker.sync import Disposition, Run, SyncService

pytestmark = pytest.mark.integration

UPSERT = r"composite/sobjects/Lead/HubSpot_Contact_ID__c"


def leads(box: SalesforceSandbox) -> list[dict[str, object]]:
    return [dict(r) for r in box.org.stores["Lead"].records.values() if not r.get("IsDeleted")]


def mql(service: SyncService, **props: str) -> str:
    values = {"lifecyclestage": "marketingqualifiedlead", "firstname": "Ada", "lastname": "Lovelace"}
    made = service.hs.create({"h": {**values, **props}})["h"]
    assert made.id is not None
    return made.id


def test_a_lead_made_by_sales_meanwhile_is_linked_not_duplicated(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService, state: State
) -> None:
    sf_box.org.duplicate_rule = "block"
    cid = mql(service, email="race@example.com", company="Engines")
    # the sync looks the email up, finds nothing, and while its create is on the wire sales saves a
    # lead for the same person: the create is refused as a duplicate of it
    sf_box.add_fault("slow", path=UPSERT, method="PATCH", delay=0.8)
    made: list[str] = []

    def sales() -> None:
        time.sleep(0.3)
        fields = {"LastName": "Lovelace", "Company": "Engines", "Email": "Race@Example.com"}
        made.append(sf_box.org.create("Lead", fields, sf_box.org.admin_id))

    thread = threading.Thread(target=sales)
    thread.start()
    outcome = service.sync_one(f"hs:contacts:{cid}", Run.new("test"))
    thread.join()
    [lead] = made
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    assert [r["Id"] for r in leads(sf_box)] == [lead]
    assert state.links.person_of([f"sf:Lead:{lead}"]) == {f"sf:Lead:{lead}": f"hs:contacts:{cid}"}
    assert sf_box.org.get("Lead", lead)["HubSpot_Contact_ID__c"] == cid
    assert sf_box.org.get("Lead", lead)["Lead_Stage__c"] == "Marketing Qualified Lead"  # never demoted
    props = hs_box.portal.stores["contacts"].records[int(cid)].props
    assert props["salesforce_lead_id"] == lead and props["lifecyclestage"] == "marketingqualifiedlead"
    assert state.dead.count() == 0


def test_a_match_by_name_and_company_only_is_dead_lettered_naming_it(
    sf_box: SalesforceSandbox, service: SyncService, state: State
) -> None:
    sf_box.org.duplicate_rule = "block"
    other = sf_box.org.create(
        "Lead",
        {"FirstName": "Ada", "LastName": "Lovelace", "Company": "Engines", "Email": "ada@elsewhere.org"},
        sf_box.org.admin_id,
    )
    cid = mql(service, email="ada@example.com", company="Engines")
    outcome = service.sync_one(f"hs:contacts:{cid}", Run.new("test"))
    assert outcome.disposition is Disposition.DEAD_LETTERED, outcome.detail
    letter = state.dead.get(f"hs:contacts:{cid}")
    assert letter is not None and letter.reason == "rejected"
    assert "DUPLICATES_DETECTED" in letter.detail and other in letter.detail
    assert [r["Id"] for r in leads(sf_box)] == [other]  # no second lead, and not linked to that one
    assert state.links.person_of([f"sf:Lead:{other}"]) == {}
