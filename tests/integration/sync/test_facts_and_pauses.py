"""Facts read with the person drive the rules (a call, a meeting, a won deal), and a CRM that runs out
of quota pauses its work instead of spinning; an ambiguous write is read back before anything else."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.port import StopReason
from worker.state.store import State
from worker.sync import Disposition, Run, SyncService

pytestmark = pytest.mark.integration


def test_a_completed_call_moves_an_open_lead_to_contacted_on_both_sides(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, cid = synced_lead(Status="Open")
    org = sf_box.org
    # "Log a Call" makes a Task with TaskSubtype Call (often without a Type)
    call = {"WhoId": lead, "TaskSubtype": "Call", "Status": "Completed", "Subject": "Call"}
    org.create("Task", call, org.admin_id)
    outcome = service.sync_one(f"sf:Lead:{lead}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    assert org.get("Lead", lead)["Status"] == "Contacted"
    assert (
        hs_box.portal.stores["contacts"].records[int(cid)].props["hs_lead_status"] == "ATTEMPTED_TO_CONTACT"
    )
    assert service.sync_one(f"sf:Lead:{lead}", Run.new("test")).writes == 0  # the call fires once


def test_a_booked_meeting_sets_meeting_set(
    sf_box: SalesforceSandbox, service: SyncService, synced_lead: Callable[..., tuple[str, str]]
) -> None:
    lead, _ = synced_lead(Status="Working")
    org = sf_box.org
    org.create(
        "Event", {"WhoId": lead, "Subject": "Demo", "StartDateTime": "2026-12-01T10:00:00Z"}, org.admin_id
    )
    assert service.sync_one(f"sf:Lead:{lead}", Run.new("test")).disposition is Disposition.SYNCED
    assert org.get("Lead", lead)["Status"] == "Meeting Set"


def test_a_won_opportunity_of_a_converted_lead_makes_a_customer(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, cid = synced_lead(Status="Qualified", Lead_Stage__c="Sales Qualified Lead")
    org = sf_box.org
    converted = org.convert_lead(lead, "Converted", org.admin_id)
    assert service.sync_one(f"sf:Lead:{lead}", Run.new("test")).disposition is Disposition.SYNCED
    assert hs_box.portal.stores["contacts"].records[int(cid)].props["lifecyclestage"] == "opportunity"
    org.update("Opportunity", converted["opportunityId"], {"StageName": "Closed Won"}, org.admin_id)
    outcome = service.sync_one(f"hs:contacts:{cid}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    assert org.get("Contact", converted["contactId"])["Lead_Stage__c"] == "Customer"
    assert hs_box.portal.stores["contacts"].records[int(cid)].props["lifecyclestage"] == "customer"


def test_salesforce_quota_pauses_its_work_and_later_batches_make_no_calls(
    sf_box: SalesforceSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, _ = synced_lead(Status="Working")
    org = sf_box.org
    org.api_max = org.api_used  # the daily allocation is spent
    outcome = service.sync_one(f"sf:Lead:{lead}", Run.new("test"))
    assert outcome.disposition is Disposition.PAUSED
    assert state.pauses.paused("salesforce") is not None and state.pauses.remaining_s("salesforce") > 60
    used = org.api_used
    again = service.sync_batch([f"sf:Lead:{lead}"], Run.new("test"))
    assert again.keys[f"sf:Lead:{lead}"].disposition is Disposition.PAUSED and again.again == [
        f"sf:Lead:{lead}"
    ]
    assert org.api_used == used and again.api_calls == {}


def test_quota_spent_mid_write_pauses_and_reports_the_stop(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, cid = synced_lead(Status="Working")
    service.hs.update({cid: {"hs_lead_status": "CONNECTED"}})
    sf_box.add_fault(
        "error", path="/composite/sobjects$", method="PATCH", error_code="REQUEST_LIMIT_EXCEEDED"
    )
    outcome = service.sync_batch([f"hs:contacts:{cid}"], Run.new("test"))
    assert outcome.keys[f"hs:contacts:{cid}"].disposition is Disposition.PAUSED
    assert outcome.paused["salesforce"].reason is StopReason.QUOTA
    assert state.bases.get(f"sf:Lead:{lead}") is not None  # the old base stays: nothing half-recorded
    assert sf_box.org.get("Lead", lead)["Status"] == "Working"


def test_a_write_whose_answer_is_lost_is_read_back_and_counts_as_applied(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    from tests.integration.sandboxes import make_service

    lead, cid = synced_lead(Status="Working")
    service = make_service(sf_box, hs_box, state, retry_attempts=1)
    service.hs.update({cid: {"hs_lead_status": "CONNECTED"}})
    sf_box.add_fault("drop_after", path="/composite/sobjects$", method="PATCH", times=1)
    run = Run.new("test")
    outcome = service.sync_one(f"hs:contacts:{cid}", run)
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    assert sf_box.org.get("Lead", lead)["Status"] == "Meeting Set"
    assert [e.field for e in state.audit.entries(run=run.id)] == ["Status"]
    assert service.sync_one(f"hs:contacts:{cid}", Run.new("test")).writes == 0


def test_a_won_hubspot_deal_makes_a_customer_when_deal_facts_are_on(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    from tests.integration.sandboxes import make_service

    lead, cid = synced_lead(Status="Qualified", Lead_Stage__c="Sales Qualified Lead")
    client = hs_box.client()
    deal = str(
        client.crm.deals.basic_api.create({"properties": {"dealname": "D", "dealstage": "closedwon"}}).id
    )
    client.crm.associations.v4.basic_api.create_default("contacts", cid, "deals", deal)
    service = make_service(sf_box, hs_box, state)
    assert service.sync_one(f"hs:contacts:{cid}", Run.new("test")).writes == 0  # deals not read by default
    service.settings = service.settings.model_copy(update={"hubspot_deal_facts": True})
    outcome = service.sync_one(f"hs:contacts:{cid}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    assert hs_box.portal.stores["contacts"].records[int(cid)].props["lifecyclestage"] == "customer"
    assert sf_box.org.get("Lead", lead)["Lead_Stage__c"] == "Customer"
    assert service.sync_one(f"hs:contacts:{cid}", Run.new("test")).writes == 0  # the deal fires once


def test_a_sync_cut_after_its_create_resumes_without_a_second_contact(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService, state: State
) -> None:
    org = sf_box.org
    lead = org.create("Lead", {"LastName": "Cut", "Company": "C", "Email": "cut@example.com"}, org.admin_id)
    # the HubSpot contact is created, then Salesforce refuses the link-back for quota: the run stops there
    sf_box.add_fault(
        "error", path="/composite/sobjects$", method="PATCH", error_code="REQUEST_LIMIT_EXCEEDED"
    )
    first = service.sync_one(f"sf:Lead:{lead}", Run.new("test"))
    assert first.disposition is Disposition.PAUSED
    assert len(hs_box.portal.stores["contacts"].records) == 1 and state.bases.get(f"sf:Lead:{lead}") is None
    state.pauses.resume("salesforce")
    again = service.sync_one(f"sf:Lead:{lead}", Run.new("test"))
    assert again.disposition is Disposition.SYNCED, again.detail
    [contact] = hs_box.portal.stores["contacts"].records.values()
    assert org.get("Lead", lead)["HubSpot_Contact_ID__c"] == str(contact.id)
    assert contact.props["salesforce_lead_id"] == lead
