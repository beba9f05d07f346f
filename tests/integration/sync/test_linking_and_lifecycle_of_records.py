"""Linking and what happens to a person's records over time: links rebuilt from the CRMs after a lost
Redis, duplicates refused, conversions followed to the Contact, merges followed to the survivor,
deleted records never recreated."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from worker.state.store import State
from worker.sync import Disposition, Run, SyncService

pytestmark = pytest.mark.integration


def contacts(hs_box: HubSpotSandbox) -> dict[int, dict[str, str]]:
    return {
        rid: dict(r.props) for rid, r in hs_box.portal.stores["contacts"].records.items() if not r.archived
    }


def leads(sf_box: SalesforceSandbox) -> list[dict[str, Any]]:
    return [dict(r) for r in sf_box.org.stores["Lead"].records.values() if not r.get("IsDeleted")]


def test_links_are_rebuilt_from_the_ids_in_the_crms_after_redis_is_lost(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
    redis_client: Any,
) -> None:
    lead, cid = synced_lead(Status="Working")
    redis_client.flushdb()
    service.sf.update("Lead", [(lead, {"Status": "Meeting Set"})])
    outcome = service.sync_one(f"hs:contacts:{cid}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    assert list(contacts(hs_box)) == [int(cid)] and len(leads(sf_box)) == 1
    assert contacts(hs_box)[int(cid)]["hs_lead_status"] == "CONNECTED"
    assert state.links.person_of([f"sf:Lead:{lead}"]) == {f"sf:Lead:{lead}": f"hs:contacts:{cid}"}


def test_an_existing_contact_is_linked_by_email_not_duplicated(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService
) -> None:
    existing = service.hs.create({"h": {"email": "Mixed.Case@Example.com", "lifecyclestage": "lead"}})["h"].id
    lead = sf_box.org.create(
        "Lead", {"LastName": "M", "Company": "C", "Email": "MIXED.case@example.com"}, sf_box.org.admin_id
    )
    outcome = service.sync_one(f"sf:Lead:{lead}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    assert list(contacts(hs_box)) == [int(existing or 0)]
    assert contacts(hs_box)[int(existing or 0)]["salesforce_lead_id"] == lead


def test_a_second_lead_for_a_synced_person_is_dead_lettered_as_a_duplicate(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    first, cid = synced_lead("dup@example.com")
    second = sf_box.org.create(
        "Lead", {"LastName": "D", "Company": "C", "Email": "dup@example.com"}, sf_box.org.admin_id
    )
    outcome = service.sync_one(f"sf:Lead:{second}", Run.new("test"))
    assert outcome.disposition is Disposition.DEAD_LETTERED
    letter = state.dead.get(f"sf:Lead:{second}")
    assert letter is not None and letter.reason == "duplicate" and f"hs:contacts:{cid}" in letter.detail
    assert list(contacts(hs_box)) == [int(cid)]
    assert contacts(hs_box)[int(cid)]["salesforce_lead_id"] == first


def test_a_converted_lead_s_later_changes_go_to_its_contact(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, cid = synced_lead(Status="Qualified", Lead_Stage__c="Sales Qualified Lead")
    result = sf_box.org.convert_lead(lead, "Converted", sf_box.org.admin_id, do_not_create_opportunity=True)
    contact = result["contactId"]
    outcome = service.sync_one(f"sf:Lead:{lead}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    person = state.links.person(f"sf:Lead:{lead}")
    assert person is not None and person.salesforce == f"sf:Contact:{contact}"
    assert contacts(hs_box)[int(cid)]["salesforce_contact_id"] == contact

    service.hs.update({cid: {"lifecyclestage": "opportunity"}})
    lead_before = dict(sf_box.org.get("Lead", lead))
    outcome = service.sync_one(f"hs:contacts:{cid}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    assert sf_box.org.get("Contact", contact)["Lead_Stage__c"] == "Opportunity"
    assert dict(sf_box.org.get("Lead", lead)) == lead_before  # the read-only lead is never written


def test_a_merged_hubspot_contact_is_followed_to_the_survivor(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, cid = synced_lead(Status="Working")
    survivor = service.hs.create({"s": {"email": "other-address@example.com"}})["s"].id or ""
    hs_box.client().crm.contacts.basic_api.merge({"primaryObjectId": survivor, "objectIdToMerge": cid})
    outcome = service.sync_one(f"sf:Lead:{lead}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    assert sf_box.org.get("Lead", lead)["HubSpot_Contact_ID__c"] == survivor
    assert contacts(hs_box)[int(survivor)]["salesforce_lead_id"] == lead
    person = state.links.person(f"sf:Lead:{lead}")
    assert person is not None and person.hubspot == f"hs:contacts:{survivor}"
    assert list(contacts(hs_box)) == [int(survivor)]


def test_two_linked_contacts_merged_dead_letter_the_loser_s_lead_until_the_leads_are_merged(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    """HubSpot says the two are one human while Salesforce still holds two leads: the loser's lead is
    never given a second contact nor linked to the survivor's (one partner per record), and its changes
    cannot be synced, so it is dead-lettered ``merged`` naming the leads to merge. Once sales merges the
    leads too, nothing of that person is left: its dead letter is cleared."""
    lead_a, cid_a = synced_lead("a@example.com")
    lead_b, cid_b = synced_lead("b@example.com")
    hs_box.client().crm.contacts.basic_api.merge({"primaryObjectId": cid_b, "objectIdToMerge": cid_a})
    dry = service.sync_one(f"sf:Lead:{lead_a}", Run.new("test"), dry_run=True)
    assert dry.disposition is Disposition.SKIPPED and "merge it into" in dry.detail
    assert state.dead.count() == 0  # a dry run files nothing
    for _ in range(2):
        outcome = service.sync_batch([f"sf:Lead:{lead_a}", f"sf:Lead:{lead_b}"], Run.new("test"))
        assert outcome.keys[f"sf:Lead:{lead_a}"].disposition is Disposition.DEAD_LETTERED
        assert outcome.keys[f"sf:Lead:{lead_b}"].disposition is Disposition.SYNCED
    assert list(contacts(hs_box)) == [int(cid_b)]
    assert contacts(hs_box)[int(cid_b)]["salesforce_lead_id"] == lead_b
    [letter] = state.dead.newest(5)
    assert letter.reason == "merged" and letter.attempts == 2
    assert f"hs:contacts:{cid_b}" in letter.detail
    assert f"merge it into sf:Lead:{lead_b} in Salesforce" in letter.detail

    sf_box.merge("Lead", lead_b, [lead_a])
    outcome = service.sync_batch([f"sf:Lead:{lead_a}", f"sf:Lead:{lead_b}"], Run.new("test"))
    assert outcome.keys[f"sf:Lead:{lead_a}"].disposition is Disposition.SKIPPED
    assert outcome.keys[f"sf:Lead:{lead_b}"].disposition in (Disposition.SYNCED, Disposition.SKIPPED)
    assert state.dead.count() == 0
    assert list(contacts(hs_box)) == [int(cid_b)] and [r["Id"] for r in leads(sf_box)] == [lead_b]


def test_a_merged_salesforce_lead_is_followed_to_a_survivor_nobody_else_has(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, cid = synced_lead(Status="Working")
    survivor = sf_box.org.create(
        "Lead", {"LastName": "Lovelace", "Company": "Engines", "Status": "Qualified"}, sf_box.org.admin_id
    )
    sf_box.merge("Lead", survivor, [lead])
    outcome = service.sync_one(f"sf:Lead:{lead}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    person = state.links.person(f"sf:Lead:{lead}")
    assert person is not None and person.salesforce == f"sf:Lead:{survivor}"
    assert contacts(hs_box)[int(cid)]["salesforce_lead_id"] == survivor
    assert contacts(hs_box)[int(cid)]["hs_lead_status"] == "OPEN_DEAL"  # the survivor's status
    assert sf_box.org.get("Lead", survivor)["HubSpot_Contact_ID__c"] == cid
    assert list(contacts(hs_box)) == [int(cid)]


def test_two_linked_leads_merged_dead_letter_the_loser_s_contact_until_the_contacts_are_merged(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead_a, cid_a = synced_lead("a@example.com")
    lead_b, cid_b = synced_lead("b@example.com")
    sf_box.merge("Lead", lead_b, [lead_a])
    outcome = service.sync_batch([f"sf:Lead:{lead_a}", f"hs:contacts:{cid_a}"], Run.new("test"))
    assert outcome.keys[f"sf:Lead:{lead_a}"].disposition is Disposition.DEAD_LETTERED
    [letter] = state.dead.newest(5)
    assert letter.reason == "merged"
    assert f"merge it into hs:contacts:{cid_b} in HubSpot" in letter.detail
    assert len(leads(sf_box)) == 1 and sorted(contacts(hs_box)) == sorted([int(cid_a), int(cid_b)])

    hs_box.client().crm.contacts.basic_api.merge({"primaryObjectId": cid_b, "objectIdToMerge": cid_a})
    outcome = service.sync_one(f"hs:contacts:{cid_a}", Run.new("test"))
    assert outcome.disposition is Disposition.SKIPPED, outcome.detail
    assert state.dead.count() == 0
    assert contacts(hs_box)[int(cid_b)]["salesforce_lead_id"] == lead_b


def test_a_deleted_salesforce_lead_is_not_recreated(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, cid = synced_lead(Lead_Stage__c="Marketing Qualified Lead")
    sf_box.org.delete("Lead", lead, sf_box.org.admin_id)
    service.hs.update({cid: {"firstname": "Changed"}})
    outcome = service.sync_one(f"hs:contacts:{cid}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    assert leads(sf_box) == []


def test_the_new_contact_of_a_converted_lead_is_never_taken_for_a_duplicate(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, cid = synced_lead(Status="Qualified", Lead_Stage__c="Sales Qualified Lead")
    contact = sf_box.org.convert_lead(lead, "Converted", sf_box.org.admin_id)["contactId"]
    # the contact's own signal arrives before the lead's: it waits for the person's link to move
    first = service.sync_one(f"sf:Contact:{contact}", Run.new("test"))
    assert first.disposition is Disposition.BUSY and state.dead.count() == 0
    assert service.sync_one(f"sf:Lead:{lead}", Run.new("test")).disposition is Disposition.SYNCED
    again = service.sync_one(f"sf:Contact:{contact}", Run.new("test"))
    assert again.disposition is Disposition.SYNCED and again.person == f"sf:Lead:{lead}"
    assert list(contacts(hs_box)) == [int(cid)]


def test_records_met_together_for_the_first_time_take_the_stage_furthest_along(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService
) -> None:
    cid = service.hs.create({"h": {"email": "far@example.com", "lifecyclestage": "salesqualifiedlead"}})[
        "h"
    ].id
    lead = sf_box.org.create(
        "Lead",
        {
            "LastName": "F",
            "Company": "C",
            "Email": "far@example.com",
            "Lead_Stage__c": "Lead",
            "Status": "Open",
        },
        sf_box.org.admin_id,
    )
    outcome = service.sync_one(f"sf:Lead:{lead}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    assert sf_box.org.get("Lead", lead)["Lead_Stage__c"] == "Sales Qualified Lead"  # lifted
    assert contacts(hs_box)[int(cid or 0)]["lifecyclestage"] == "salesqualifiedlead"  # never demoted


def test_a_lead_created_for_a_contact_synced_alone_joins_that_person(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService, state: State
) -> None:
    cid = service.hs.create({"h": {"email": "nurture@example.com", "lifecyclestage": "lead"}})["h"].id or ""
    alone = service.sync_one(f"hs:contacts:{cid}", Run.new("test"))  # below hand-over: no lead made
    assert alone.disposition is Disposition.SYNCED and leads(sf_box) == []
    lead = sf_box.org.create(
        "Lead", {"LastName": "N", "Company": "C", "Email": "nurture@example.com"}, sf_box.org.admin_id
    )
    outcome = service.sync_one(f"sf:Lead:{lead}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    assert outcome.person == f"hs:contacts:{cid}"
    person = state.links.person(f"hs:contacts:{cid}")
    assert person is not None and person.salesforce == f"sf:Lead:{lead}"
    assert list(contacts(hs_box)) == [int(cid)] and contacts(hs_box)[int(cid)]["salesforce_lead_id"] == lead
    assert sf_box.org.get("Lead", lead)["HubSpot_Contact_ID__c"] == cid
