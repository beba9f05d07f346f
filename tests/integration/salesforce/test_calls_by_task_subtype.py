"""Calls are Tasks with TaskSubtype = 'Call' ("Log a Call" often leaves Type empty); the worker finds
them by the subtype unless its settings name another criterion."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.salesforce import SalesforceAdapter, SalesforceSettings

pytestmark = pytest.mark.integration
Settings = Callable[..., SalesforceSettings]


def test_task_subtype_is_a_restricted_picklist_set_on_create_only(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, make_lead: Callable[..., str]
) -> None:
    described = next(f for f in sf_client.Task.describe()["fields"] if f["name"] == "TaskSubtype")
    assert described["restrictedPicklist"] is True
    assert (described["createable"], described["updateable"]) == (True, False)
    assert "Call" in {v["value"] for v in described["picklistValues"]}
    lead = make_lead()
    task = sf_client.Task.create(
        {"WhoId": lead, "Subject": "Call", "TaskSubtype": "Call", "Status": "Completed"}
    )
    assert sf_client.Task.get(task["id"])["Type"] is None
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf_client.Task.update(task["id"], {"TaskSubtype": "Email"})
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as bad:
        sf_client.Task.create({"WhoId": lead, "TaskSubtype": "Fax", "Status": "Completed"})
    assert bad.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def _tasks(sandbox: SalesforceSandbox, lead: str) -> None:
    org, admin = sandbox.org, sandbox.org.admin_id
    org.create(
        "Task", {"WhoId": lead, "Subject": "Logged", "TaskSubtype": "Call", "Status": "Completed"}, admin
    )
    org.create("Task", {"WhoId": lead, "Subject": "Typed", "Type": "Call", "TaskSubtype": "Task",
                        "Status": "Completed"}, admin)  # fmt: skip
    org.create(
        "Task", {"WhoId": lead, "Subject": "Open", "TaskSubtype": "Call", "Status": "Not Started"}, admin
    )
    org.create(
        "Task", {"WhoId": lead, "Subject": "Mail", "TaskSubtype": "Email", "Status": "Completed"}, admin
    )


def _call_subjects(adapter: SalesforceAdapter, sandbox: SalesforceSandbox, lead: str) -> list[str]:
    facts = adapter.related_facts("Lead", [lead])
    tasks = facts.records[lead]["Tasks"]
    ids = [t["Id"] for t in tasks["records"]] if tasks else []
    return sorted(sandbox.org.get("Task", i)["Subject"] for i in ids)


def test_a_logged_call_without_a_type_is_a_call(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings, make_lead: Callable[..., str]
) -> None:
    lead = make_lead()
    _tasks(sf_sandbox, lead)
    assert _call_subjects(SalesforceAdapter(sf_settings()), sf_sandbox, lead) == ["Logged"]


def test_an_org_that_logs_calls_by_type_can_say_so(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings, make_lead: Callable[..., str]
) -> None:
    lead = make_lead()
    _tasks(sf_sandbox, lead)
    adapter = SalesforceAdapter(sf_settings(call_task_field="Type", call_task_values=["Call"]))
    assert _call_subjects(adapter, sf_sandbox, lead) == ["Typed"]


def test_the_call_criterion_setting_cannot_inject_soql(sf_settings: Settings) -> None:
    with pytest.raises(ValueError, match="call_task_field"):
        sf_settings(call_task_field="Type = 'Call' OR Id")
    adapter = SalesforceAdapter(sf_settings(call_task_values=["Call') OR (Id != null"]))
    assert "\\'" in adapter.calls_subquery  # the value is quoted and escaped, not spliced in
