"""The standard duplicate rules as shipped (Leads against Leads and Contacts, Contacts against
Contacts; email, or first + last name + company), alert (blocks API saves without allowSave) or
block; and the adapter naming the records a refused create duplicates."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.port import Outcome
from worker.crm.salesforce import SalesforceAdapter
from worker.crm.salesforce.classify import DuplicatesDetectedError

pytestmark = pytest.mark.integration
MakeLead = Callable[..., str]
ALLOW = {"Sforce-Duplicate-Rule-Header": "allowSave=true"}


def _refused(call: Callable[[], object]) -> dict[str, object]:
    with pytest.raises(SalesforceMalformedRequest) as info:
        call()
    body: dict[str, object] = info.value.content[0]
    return body


def _matched(body: dict[str, object]) -> dict[str, list[str]]:
    result = body["duplicateResut"]  # sic: Salesforce's spelling
    assert isinstance(result, dict)
    return {m["entityType"]: [r["record"]["Id"] for r in m["matchRecords"]] for m in result["matchResults"]}


def test_the_standard_lead_rule_matches_leads_and_contacts_and_alerts(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, make_lead: MakeLead
) -> None:
    sf_sandbox.org.duplicate_rule = "allow_with_header"  # as shipped: Allow + alert
    lead = make_lead(Email="ada@example.com", FirstName="Ada", LastName="Lovelace", Company="Engines")
    contact = sf_sandbox.org.create(
        "Contact", {"LastName": "L", "Email": "ADA@example.com"}, sf_sandbox.org.admin_id
    )
    body = _refused(
        lambda: sf_client.Lead.create({"LastName": "X", "Company": "Y", "Email": "ada@example.com"})
    )
    assert body["errorCode"] == "DUPLICATES_DETECTED" and body["message"] == "Use one of these records?"
    assert _matched(body) == {"Lead": [lead], "Contact": [contact]}
    by_name = _refused(
        lambda: sf_client.Lead.create({"FirstName": "ada", "LastName": "LOVELACE", "Company": "engines"})
    )
    assert _matched(by_name) == {"Lead": [lead]}
    allowed = sf_client.Lead.create(
        {"LastName": "X", "Company": "Y", "Email": "ada@example.com"}, headers=ALLOW
    )
    assert allowed["success"] is True
    other = _refused(lambda: sf_client.Contact.create({"LastName": "Z", "Email": "ada@example.com"}))
    assert _matched(other) == {"Contact": [contact]}  # the contact rule looks at contacts only


def test_a_blocking_rule_refuses_even_with_allow_save(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, make_lead: MakeLead
) -> None:
    sf_sandbox.org.duplicate_rule = "block"
    make_lead(Email="ada@example.com")
    body = _refused(
        lambda: sf_client.Lead.create(
            {"LastName": "X", "Company": "Y", "Email": "ada@example.com"}, headers=ALLOW
        )
    )
    assert body["errorCode"] == "DUPLICATES_DETECTED"
    sf_client.Lead.create({"LastName": "X", "Company": "Y", "Email": "new@example.com"}, headers=ALLOW)


def test_an_update_that_changes_nothing_the_rules_read_is_not_checked(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, make_lead: MakeLead
) -> None:
    first = make_lead(Email="ada@example.com")
    second = make_lead(Email="ada@example.com")  # made before the rule was switched on
    sf_sandbox.org.duplicate_rule = "block"
    sf_client.Lead.update(second, {"Title": "CTO"})
    body = _refused(lambda: sf_client.Lead.update(second, {"Email": "ADA@example.com", "LastName": "New"}))
    assert _matched(body) == {"Lead": [first]}


def test_the_adapter_names_what_a_refused_create_duplicates(
    sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter, make_lead: MakeLead
) -> None:
    org = sf_sandbox.org
    org.duplicate_rule = "allow_with_header"
    lead = make_lead(Email="ada@example.com")
    named = make_lead(FirstName="Grace", LastName="Hopper", Company="Navy")
    contact = org.create("Contact", {"LastName": "L", "Email": "ada@example.com"}, org.admin_id)
    report = sf_adapter.create(
        "Lead",
        [
            {"LastName": "A", "Company": "C", "Email": "Ada@Example.com"},
            {"FirstName": "Grace", "LastName": "Hopper", "Company": "navy"},
            {"LastName": "B", "Company": "C", "Email": "fresh@example.com"},
        ],
    )
    by_email, by_name, fresh = report.results
    assert by_email.state is Outcome.REJECTED and isinstance(by_email.error, DuplicatesDetectedError)
    assert set(by_email.error.matches) == {lead, contact}
    assert lead in str(by_email.error) and contact in str(by_email.error)
    assert isinstance(by_name.error, DuplicatesDetectedError) and by_name.error.matches == (named,)
    assert fresh.ok
    allowed = sf_adapter.create(
        "Lead", [{"LastName": "A", "Company": "C", "Email": "ada@example.com"}], allow_duplicates=True
    )
    assert allowed.all_applied
