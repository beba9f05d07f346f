"""A Salesforce lead without an email is created in HubSpot (by its name, upserted on the worker's create
key, linked both ways); one that has neither email nor a name HubSpot can take is dead-lettered
``blocked``, naming the fields — never skipped silently. A HubSpot contact without an email already
becomes a Lead with ``[not provided]`` for the LastName/Company Salesforce requires."""

from __future__ import annotations

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from worker.state.store import State
from worker.sync import Disposition, Run, SyncService

pytestmark = pytest.mark.integration
MQL = {"Company": "Engines", "Status": "Working", "Lead_Stage__c": "Marketing Qualified Lead"}


def test_a_lead_without_an_email_gets_a_linked_contact(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService
) -> None:
    org = sf_box.org
    lead = org.create("Lead", {"FirstName": "Ada", "LastName": "Lovelace", **MQL}, org.admin_id)
    outcome = service.sync_one(f"sf:Lead:{lead}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    cid = str(org.get("Lead", lead)["HubSpot_Contact_ID__c"])
    props = hs_box.portal.stores["contacts"].records[int(cid)].props
    assert (props.get("lastname"), props.get("email"), props.get("salesforce_lead_id")) == (
        "Lovelace",
        None,
        lead,
    )
    assert service.sync_one(f"sf:Lead:{lead}", Run.new("test")).writes == 0


def test_a_lead_with_no_email_and_no_name_is_dead_lettered_naming_the_fields(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService, state: State
) -> None:
    org = sf_box.org
    lead = org.create("Lead", {"LastName": "[not provided]", **MQL}, org.admin_id)
    outcome = service.sync_one(f"sf:Lead:{lead}", Run.new("test"))
    assert outcome.disposition is Disposition.DEAD_LETTERED
    letter = state.dead.get(f"sf:Lead:{lead}")
    assert letter is not None and letter.reason == "blocked"
    assert "email, firstname or lastname" in letter.detail
    assert hs_box.portal.stores["contacts"].records == {}
