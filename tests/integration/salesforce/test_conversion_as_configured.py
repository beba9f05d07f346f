"""Lead conversion as orgs configure it: custom fields reach the Contact only where mapped, the
converted status must be a converted one, duplicate rules run on the new Contact; and the worker does
not rely on fields being copied."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sandbox.salesforce.server import SalesforceSandbox
from tests.integration.sandboxes import make_service
from worker.crm.salesforce import LeadConversion, SalesforceAdapter
from worker.state.store import State
from worker.sync import Disposition, Run, SyncService

pytestmark = pytest.mark.integration
MakeLead = Callable[..., str]


def test_unmapped_custom_fields_stay_on_the_lead(
    sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter, make_lead: MakeLead
) -> None:
    sf_sandbox.org.lead_field_mapping = {"HubSpot_Contact_ID__c": "HubSpot_Contact_ID__c"}
    lead = make_lead(
        FirstName="Ada", Email="ada@example.com", Title="CTO", Lead_Stage__c="Sales Qualified Lead"
    )
    [result] = sf_adapter.convert_leads([LeadConversion(lead, "Converted", do_not_create_opportunity=True)])
    assert result.success and result.contact_id
    contact = sf_sandbox.org.get("Contact", result.contact_id)
    assert (contact["FirstName"], contact["Email"], contact["Title"]) == ("Ada", "ada@example.com", "CTO")
    assert contact.get("Lead_Stage__c") is None  # not mapped by this org


def test_a_status_that_is_not_a_converted_one_is_refused(
    sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter, make_lead: MakeLead
) -> None:
    lead = make_lead()
    [result] = sf_adapter.convert_leads([LeadConversion(lead, "Working")])
    assert (result.success, result.error_code) == (False, "INVALID_STATUS")
    assert sf_sandbox.org.get("Lead", lead)["IsConverted"] is False


def test_duplicate_rules_run_on_the_contact_conversion_creates(
    sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter, make_lead: MakeLead
) -> None:
    org = sf_sandbox.org
    existing = org.create("Contact", {"LastName": "Lovelace", "Email": "ada@example.com"}, org.admin_id)
    lead = make_lead(Email="ada@example.com")
    org.duplicate_rule = "allow_with_header"  # the standard rules, as shipped
    accounts = len(org.stores["Account"].records)
    [refused] = sf_adapter.convert_leads([LeadConversion(lead, "Converted")])
    assert (refused.success, refused.error_code) == (False, "DUPLICATES_DETECTED")
    assert len(org.stores["Account"].records) == accounts  # one transaction: nothing half-made
    [linked] = sf_adapter.convert_leads(
        [
            LeadConversion(
                lead, "Converted", contact_id=existing, account_id=None, do_not_create_opportunity=True
            )
        ]
    )
    assert linked.success and linked.contact_id == existing  # converting into the match is the way out


@pytest.fixture
def service(sf_sandbox: SalesforceSandbox, hs_box: Any, redis_client: Any) -> SyncService:
    return make_service(sf_sandbox, hs_box, State.connect(redis_client))


def test_the_worker_does_not_rely_on_fields_being_copied(
    sf_sandbox: SalesforceSandbox, hs_box: Any, service: SyncService
) -> None:
    org = sf_sandbox.org
    fields = {"FirstName": "Ada", "LastName": "Lovelace", "Company": "Engines", "Email": "ada@example.com"}
    lead = org.create(
        "Lead", {**fields, "Status": "Qualified", "Lead_Stage__c": "Sales Qualified Lead"}, org.admin_id
    )
    assert service.sync_one(f"sf:Lead:{lead}", Run.new("test")).disposition is Disposition.SYNCED
    cid = str(org.get("Lead", lead)["HubSpot_Contact_ID__c"])
    org.lead_field_mapping = {}  # this org maps no custom field onto the Contact
    contact = org.convert_lead(lead, "Converted", org.admin_id, do_not_create_opportunity=True)["contactId"]
    assert org.get("Contact", contact).get("Lead_Stage__c") is None
    outcome = service.sync_one(f"sf:Lead:{lead}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    props = dict(hs_box.portal.stores["contacts"].records[int(cid)].props)
    assert props["lifecyclestage"] == "salesqualifiedlead"  # not cleared because the Contact was blank
    assert props["salesforce_contact_id"] == contact  # the conversion itself was followed
    again = service.sync_one(f"hs:contacts:{cid}", Run.new("test"))  # the next pass of the person
    assert again.disposition is Disposition.SYNCED and again.writes == 1, again.detail
    assert org.get("Contact", contact).get("Lead_Stage__c") == "Sales Qualified Lead"  # filled by the worker
