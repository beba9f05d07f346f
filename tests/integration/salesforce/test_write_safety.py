"""Writes that must not duplicate, lose or reassign records (review findings 1, 3, 4, 5), through the
real simple-salesforce client against the sandbox over HTTPS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceResourceNotFound

from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.port import Outcome, StopReason
from worker.crm.salesforce import SalesforceAdapter, SalesforceSettings
from worker.errors import QuotaExhaustedError, RetriableError

pytestmark = pytest.mark.integration
Settings = Callable[..., SalesforceSettings]
KEY = "HubSpot_Contact_ID__c"
UPSERT_PATH = "/composite/sobjects/Lead/HubSpot_Contact_ID__c"


def _leads_named(sf_sandbox: SalesforceSandbox, name: str) -> list[dict[str, Any]]:
    return [r for r in sf_sandbox.org.stores["Lead"].records.values() if r.get("LastName") == name]


@pytest.mark.parametrize("duplicate_rule", ["off", "block"])
def test_keyed_create_resent_after_lost_answer_saves_one_lead(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings, duplicate_rule: str
) -> None:
    sf_sandbox.org.duplicate_rule = duplicate_rule
    adapter = SalesforceAdapter(sf_settings())
    # the server commits, then the connection drops mid-answer: the adapter must send again safely
    sf_sandbox.add_fault("drop_after", path=UPSERT_PATH + "$", method="PATCH", times=1)
    results = adapter.create(
        "Lead", [{"LastName": "Once", "Company": "Acme", "Email": "o@x.io", KEY: "h-1"}]
    ).results
    rows = _leads_named(sf_sandbox, "Once")
    assert len(rows) == 1 and not sf_sandbox.org.faults  # the fault fired, and still one lead
    assert results[0].ok and results[0].id == rows[0]["Id"]
    assert results[0].created is False  # the re-send found the lead the lost answer had created


def test_unkeyed_create_is_not_resent_after_an_ambiguous_failure(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings
) -> None:
    adapter = SalesforceAdapter(sf_settings())
    sf_sandbox.add_fault("drop_after", path="/composite/sobjects$", method="POST", times=1)
    before = sf_sandbox.org.api_used
    results = adapter.create("Lead", [{"LastName": "Twice", "Company": "Acme"}]).results
    assert len(_leads_named(sf_sandbox, "Twice")) == 1
    assert sf_sandbox.org.api_used == before + 1  # one POST, no blind re-send
    assert results[0].state is Outcome.UNKNOWN  # maybe saved: never re-sent blindly
    assert results[0].code == "CREATE_OUTCOME_UNKNOWN" and results[0].id is None


def test_unkeyed_create_is_resent_after_a_failure_that_saved_nothing(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings
) -> None:
    adapter = SalesforceAdapter(sf_settings())
    sf_sandbox.add_fault(
        "error", path="/composite/sobjects$", method="POST", error_code="UNABLE_TO_LOCK_ROW", times=1
    )
    results = adapter.create("Lead", [{"LastName": "Locked", "Company": "Acme"}]).results
    assert results[0].ok and len(_leads_named(sf_sandbox, "Locked")) == 1


def test_mixed_create_keeps_input_order(sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter) -> None:
    results = sf_adapter.create(
        "Lead",
        [
            {"LastName": "A", "Company": "C"},
            {"LastName": "B", "Company": "C", KEY: "h-b"},
            {"LastName": "C", "Company": "C", "Status": "Nope"},
        ],
    ).results
    assert [r.ok for r in results] == [True, True, False]
    assert sf_sandbox.org.get("Lead", results[1].id or "")[KEY] == "h-b"
    assert sf_sandbox.org.get("Lead", results[0].id or "")["LastName"] == "A"
    assert results[1].created is True and results[0].created is None
    assert results[2].error is not None and results[2].error.code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_error_in_a_later_batch_keeps_earlier_results(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings, make_lead: Callable[..., str]
) -> None:
    a, b, c = make_lead(), make_lead(), make_lead()
    adapter = SalesforceAdapter(sf_settings(write_batch_size=1))
    org = sf_sandbox.org
    org.api_max = org.api_used + 1  # the first batch is the last call the allocation allows
    report = adapter.update(
        "Lead", [(a, {"Status": "Working"}), (b, {"Status": "Working"}), (c, {"Title": "x"})]
    )
    assert report.stopped is not None and report.stopped.reason is StopReason.QUOTA
    assert isinstance(report.stopped.error, QuotaExhaustedError)
    kept = report.results
    assert [r.state for r in kept] == [Outcome.APPLIED, Outcome.NOT_APPLIED, Outcome.NOT_APPLIED]
    assert kept[0].id == a and org.get("Lead", a)["Status"] == "Working"
    assert isinstance(kept[1].error, QuotaExhaustedError)  # refused: the 403 proves nothing was saved
    assert isinstance(kept[2].error, RetriableError) and kept[2].code == "NOT_ATTEMPTED"


def test_lock_resends_wait_with_exponential_backoff(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings, make_lead: Callable[..., str]
) -> None:
    a, b = make_lead(), make_lead()
    waits: list[float] = []
    adapter = SalesforceAdapter(
        sf_settings(retry_attempts=5, retry_initial_wait=0.2, retry_max_wait=1.0), sleep=waits.append
    )
    sf_sandbox.add_fault("lock_records", record_ids=[b], times=3)  # held for three attempts
    results = adapter.update("Lead", [(a, {"Title": "t"}), (b, {"Title": "t"})]).results
    assert [r.ok for r in results] == [True, True]
    assert len(waits) == 3  # one wait before each of the three re-sends
    assert all(0 <= w <= ceiling for w, ceiling in zip(waits, (0.2, 0.4, 0.8), strict=True))


# -- sObject Collections upsert in the sandbox (api_rest resources_composite_sobjects_collections_upsert)
def _upsert(sf_client: Salesforce, records: list[dict[str, Any]], **kw: Any) -> Any:
    body = {"allOrNone": kw.pop("all_or_none", False), "records": records}
    return sf_client.restful(f"composite/sobjects/Lead/{kw.pop('field', KEY)}", method="PATCH", json=body)


def test_sandbox_collection_upsert_creates_updates_and_reports_per_record(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, make_lead: Callable[..., str]
) -> None:
    existing = make_lead(**{KEY: "h-old"})
    lead = {"type": "Lead"}
    answer = _upsert(
        sf_client,
        [
            {"attributes": lead, "LastName": "New", "Company": "C", KEY: "h-new"},
            {"attributes": lead, "Title": "Updated", KEY: "h-old"},
            {"attributes": lead, "LastName": "NoKey", "Company": "C"},
            {"attributes": lead, "LastName": "D1", "Company": "C", KEY: "h-dup"},
            {"attributes": lead, "LastName": "D2", "Company": "C", KEY: "H-DUP"},
        ],
    )
    assert answer[0]["success"] and answer[0]["created"] is True and answer[0]["errors"] == []
    assert answer[1] == {"id": existing, "success": True, "errors": [], "created": False}
    assert sf_sandbox.org.get("Lead", existing)["Title"] == "Updated"
    assert answer[2]["success"] is False and answer[2]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    assert [a["errors"][0]["statusCode"] for a in answer[3:]] == ["DUPLICATE_EXTERNAL_ID"] * 2
    assert _leads_named(sf_sandbox, "D1") == [] and _leads_named(sf_sandbox, "D2") == []


def test_sandbox_collection_upsert_all_or_none_and_unknown_field(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    lead = {"type": "Lead"}
    answer = _upsert(
        sf_client,
        [
            {"attributes": lead, "LastName": "Fine", "Company": "C", KEY: "h-1"},
            {"attributes": lead, "LastName": "Bad", "Company": "C", "Status": "Nope", KEY: "h-2"},
        ],
        all_or_none=True,
    )
    assert answer[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert _leads_named(sf_sandbox, "Fine") == []
    with pytest.raises(SalesforceResourceNotFound) as info:
        _upsert(sf_client, [{"attributes": lead, "LastName": "X"}], field="Email")
    assert info.value.content[0]["errorCode"] == "NOT_FOUND"


# -- assignment rules (api_rest headers_autoassign.htm: absent header means TRUE) -----------------
def test_sandbox_assignment_rule_runs_unless_the_header_says_false(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    org = sf_sandbox.org
    router = org.create_raw("User", {"Username": "router@crm-sync.sandbox", "LastName": "Router"}, None)
    org.assignment_rule_owner = router
    plain = sf_client.Lead.create({"LastName": "Plain", "Company": "C"})["id"]
    kept = sf_client.Lead.create(
        {"LastName": "Kept", "Company": "C"}, headers={"Sforce-Auto-Assign": "FALSE"}
    )["id"]
    assert org.get("Lead", plain)["OwnerId"] == router
    assert org.get("Lead", kept)["OwnerId"] == org.admin_id
    sf_client.Lead.update(kept, {"Title": "t"})  # an update without the header runs the rule too
    assert org.get("Lead", kept)["OwnerId"] == router


def test_adapter_writes_do_not_rerun_assignment_rules(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings, make_lead: Callable[..., str]
) -> None:
    org = sf_sandbox.org
    router = org.create_raw("User", {"Username": "router@crm-sync.sandbox", "LastName": "Router"}, None)
    org.assignment_rule_owner = router
    lead = make_lead()
    adapter = SalesforceAdapter(sf_settings())
    made = adapter.create(
        "Lead", [{"LastName": "N", "Company": "C"}, {"LastName": "K", "Company": "C", KEY: "k"}]
    )
    adapter.update("Lead", [(lead, {"Title": "x"})])
    owners = {org.get("Lead", rid)["OwnerId"] for rid in [lead, *(r.id or "" for r in made.results)]}
    assert owners == {org.admin_id}
    opted_in = SalesforceAdapter(sf_settings(auto_assign=True))
    opted_in.update("Lead", [(lead, {"Title": "y"})])
    assert org.get("Lead", lead)["OwnerId"] == router
