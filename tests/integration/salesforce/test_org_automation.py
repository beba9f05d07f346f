"""Flows and triggers that run on save (``sandbox/salesforce/automation.py``): a flow that rewrites
what the worker wrote, and automation that refuses a save; the worker converges with such an org and
dead-letters a refusal with the org's message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.integration.sandboxes import make_service
from worker.crm.port import Outcome
from worker.crm.salesforce import SalesforceAdapter
from worker.errors import RecordRejectedError
from worker.state.store import State
from worker.sync import Disposition, Run, SyncService

pytestmark = pytest.mark.integration
MakeLead = Callable[..., str]


def test_a_before_save_flow_rewrites_a_field_and_stamps_a_date(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, make_lead: MakeLead
) -> None:
    sf_sandbox.add_automation(
        name="Stage_Resets_Status",
        object="Lead",
        kind="update",
        field="Lead_Stage__c",
        value="Sales Qualified Lead",
        set={"Status": "Working"},
    )
    sf_sandbox.add_automation(
        name="Stamp_Close", object="Task", kind="update", field="Status", value="Completed",
        set={"ActivityDate": "$TODAY"},
    )  # fmt: skip
    lead = make_lead(Status="Open")
    sf_client.Lead.update(lead, {"Lead_Stage__c": "Sales Qualified Lead", "Status": "Qualified"})
    stored = sf_sandbox.org.get("Lead", lead)
    assert (stored["Lead_Stage__c"], stored["Status"]) == ("Sales Qualified Lead", "Working")
    task = sf_client.Task.create({"WhoId": lead, "Subject": "Call", "Status": "Completed"})
    assert sf_client.Task.get(task["id"])["ActivityDate"] is not None
    sf_client.Lead.update(lead, {"Status": "Qualified"})  # the stage did not change: the flow stays out
    assert sf_sandbox.org.get("Lead", lead)["Status"] == "Qualified"


@pytest.mark.parametrize(
    ("kind", "code", "message"),
    [
        ("validation", "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Customers are set by Finance"),
        (
            "trigger_error",
            "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
            "LeadTrigger: execution of BeforeUpdate caused by: System.NullPointerException",
        ),
        (
            "flow_error",
            "CANNOT_EXECUTE_FLOW_TRIGGER",
            "We can't save this record because the “LeadTrigger” process failed. Give your Salesforce admin "
            "these details. System.NullPointerException",
        ),
    ],
)
def test_automation_that_refuses_a_save(
    sf_sandbox: SalesforceSandbox,
    sf_client: Salesforce,
    sf_adapter: SalesforceAdapter,
    make_lead: MakeLead,
    kind: str,
    code: str,
    message: str,
) -> None:
    detail = "Customers are set by Finance" if kind == "validation" else "System.NullPointerException"
    sf_sandbox.add_automation(
        name="LeadTrigger", object="Lead", kind=kind, field="Lead_Stage__c", value="Customer", message=detail
    )
    lead, other = make_lead(), make_lead()
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf_client.Lead.update(lead, {"Lead_Stage__c": "Customer"})
    assert info.value.content[0] == {"message": message, "errorCode": code, "fields": []}
    report = sf_adapter.update("Lead", [(lead, {"Lead_Stage__c": "Customer"}), (other, {"Title": "CEO"})])
    refused, applied = report.results
    assert refused.state is Outcome.REJECTED and isinstance(refused.error, RecordRejectedError)
    assert (refused.code, str(refused.error)) == (code, message)
    assert applied.ok


# -- the worker against such an org, through the sync service -------------------------------------
@pytest.fixture
def service(sf_sandbox: SalesforceSandbox, hs_box: HubSpotSandbox, redis_client: Any) -> SyncService:
    return make_service(sf_sandbox, hs_box, State.connect(redis_client))


def _lead_in_both(sf_sandbox: SalesforceSandbox, service: SyncService, **values: Any) -> tuple[str, str]:
    fields = {"FirstName": "Ada", "LastName": "Lovelace", "Company": "Engines", "Email": "ada@example.com"}
    lead = sf_sandbox.org.create("Lead", {**fields, **values}, sf_sandbox.org.admin_id)
    assert service.sync_one(f"sf:Lead:{lead}", Run.new("test")).disposition is Disposition.SYNCED
    return lead, str(sf_sandbox.org.get("Lead", lead)["HubSpot_Contact_ID__c"])


def test_no_echo_loop_when_a_flow_rewrites_what_the_worker_wrote(
    sf_sandbox: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService
) -> None:
    lead, cid = _lead_in_both(sf_sandbox, service, Status="Working", Lead_Stage__c="Marketing Qualified Lead")
    sf_sandbox.add_automation(
        name="Stage_Resets_Status", object="Lead", kind="update", field="Lead_Stage__c",
        value="Sales Qualified Lead", set={"Status": "Working"},
    )  # fmt: skip
    service.hs.update({cid: {"lifecyclestage": "salesqualifiedlead"}})
    writes = []
    for key in [f"hs:contacts:{cid}", f"sf:Lead:{lead}", f"hs:contacts:{cid}", f"sf:Lead:{lead}"]:
        outcome = service.sync_one(key, Run.new("test"))
        assert outcome.disposition is Disposition.SYNCED, outcome.detail
        writes.append(outcome.writes)
    assert writes[-2:] == [0, 0], writes  # settled: nothing left to write either way
    assert 1 <= sf_sandbox.org.automations[0].runs <= 2  # it rewrote the worker's write, and not for ever
    stored = sf_sandbox.org.get("Lead", lead)
    props = dict(hs_box.portal.stores["contacts"].records[int(cid)].props)
    assert stored["Lead_Stage__c"] == "Sales Qualified Lead"
    assert props["lifecyclestage"] == "salesqualifiedlead"


def test_a_refusing_flow_is_a_clear_dead_letter(
    sf_sandbox: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService, redis_client: Any
) -> None:
    lead, cid = _lead_in_both(sf_sandbox, service, Status="Working", Lead_Stage__c="Marketing Qualified Lead")
    sf_sandbox.add_automation(
        name="Finance_Only", object="Lead", kind="validation", field="Lead_Stage__c",
        value="Sales Qualified Lead", message="Only Finance may qualify leads",
    )  # fmt: skip
    service.hs.update({cid: {"lifecyclestage": "salesqualifiedlead"}})
    outcome = service.sync_one(f"hs:contacts:{cid}", Run.new("test"))
    assert outcome.disposition is Disposition.DEAD_LETTERED, outcome.detail
    assert outcome.person is not None
    letter = State.connect(redis_client).dead.get(outcome.person)
    assert letter is not None and letter.reason == "rejected"
    [failed] = [w for w in letter.writes if w.side == "salesforce"]
    assert failed.code == "FIELD_CUSTOM_VALIDATION_EXCEPTION" and failed.state == "rejected"
    assert "Only Finance may qualify leads" in failed.message
    assert sf_sandbox.org.get("Lead", lead)["Lead_Stage__c"] == "Marketing Qualified Lead"
