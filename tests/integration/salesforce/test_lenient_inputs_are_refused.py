"""Inputs Salesforce refuses that the sandbox used to accept: lookups to records that do not exist,
a null in a field that must hold a value, OFFSET past 2,000; and queue owners (00G…), which it accepts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.salesforce.ids import make_id
from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.port import Outcome
from worker.crm.salesforce import SalesforceAdapter

pytestmark = pytest.mark.integration
MakeLead = Callable[..., str]
NO_SUCH_USER = make_id("005", 99_999)
NO_SUCH_ACCOUNT = make_id("001", 99_999)


def _refusal(call: Callable[[], object]) -> dict[str, object]:
    with pytest.raises(SalesforceMalformedRequest) as info:
        call()
    item: dict[str, object] = info.value.content[0]
    return item


def test_a_lookup_to_a_record_that_does_not_exist_is_refused(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, make_lead: MakeLead
) -> None:
    lead = make_lead()
    assert _refusal(lambda: sf_client.Lead.update(lead, {"OwnerId": NO_SUCH_USER})) == {
        "message": "Owner ID: invalid cross reference id",
        "errorCode": "INVALID_CROSS_REFERENCE_KEY",
        "fields": ["OwnerId"],
    }
    refused = _refusal(lambda: sf_client.Contact.create({"LastName": "X", "AccountId": NO_SUCH_ACCOUNT}))
    assert (refused["errorCode"], refused["fields"]) == ("INVALID_CROSS_REFERENCE_KEY", ["AccountId"])
    wrong_type = _refusal(lambda: sf_client.Lead.update(lead, {"OwnerId": NO_SUCH_ACCOUNT}))
    assert wrong_type["errorCode"] == "MALFORMED_ID"
    assert sf_sandbox.org.get("Lead", lead)["OwnerId"] == sf_sandbox.org.admin_id


def test_nulling_a_field_that_must_hold_a_value_is_refused(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, make_lead: MakeLead
) -> None:
    lead = make_lead(Status="Working")
    assert _refusal(lambda: sf_client.Lead.update(lead, {"Status": None})) == {
        "message": "Required fields are missing: [Status]",
        "errorCode": "REQUIRED_FIELD_MISSING",
        "fields": ["Status"],
    }
    owner = _refusal(lambda: sf_client.Lead.update(lead, {"OwnerId": None}))
    assert (owner["errorCode"], owner["message"]) == (
        "INVALID_CROSS_REFERENCE_KEY",
        "Owner ID: owner cannot be blank",
    )
    assert sf_sandbox.org.get("Lead", lead)["Status"] == "Working"


def test_a_queue_can_own_a_lead(sf_sandbox: SalesforceSandbox, sf_client: Salesforce) -> None:
    queue = sf_sandbox.org.lead_queue_id
    assert queue.startswith("00G")
    owner = next(f for f in sf_client.Lead.describe()["fields"] if f["name"] == "OwnerId")
    assert owner["referenceTo"] == ["Group", "User"] and owner["polymorphicForeignKey"] is True
    created = sf_client.Lead.create({"LastName": "Q", "Company": "C", "OwnerId": queue})
    rows = sf_client.query(f"SELECT OwnerId, Owner.Name FROM Lead WHERE Id = '{created['id']}'")["records"]
    assert rows[0]["OwnerId"] == queue and rows[0]["Owner"]["Name"] == "Inbound Leads"
    contact = _refusal(lambda: sf_client.Contact.create({"LastName": "X", "OwnerId": queue}))
    assert contact["errorCode"] == "MALFORMED_ID"  # contacts cannot sit in a queue


def test_offset_past_2000_is_number_outside_valid_range(sf_client: Salesforce) -> None:
    refused = _refusal(lambda: sf_client.query("SELECT Id FROM Lead ORDER BY Id LIMIT 10 OFFSET 2001"))
    assert refused["errorCode"] == "NUMBER_OUTSIDE_VALID_RANGE"
    assert sf_client.query("SELECT Id FROM Lead ORDER BY Id LIMIT 10 OFFSET 2000")["totalSize"] == 0


def test_the_adapter_dead_letters_them_per_record_and_accepts_a_queue_owner(
    sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter, make_lead: MakeLead
) -> None:
    bad_owner, no_status, queued = make_lead(), make_lead(), make_lead()
    report = sf_adapter.update(
        "Lead",
        [
            (bad_owner, {"OwnerId": NO_SUCH_USER}),
            (no_status, {"Status": None}),
            (queued, {"OwnerId": sf_sandbox.org.lead_queue_id}),
        ],
    )
    states = [(r.state, r.code) for r in report.results]
    assert states == [
        (Outcome.REJECTED, "INVALID_CROSS_REFERENCE_KEY"),
        (Outcome.REJECTED, "REQUIRED_FIELD_MISSING"),
        (Outcome.APPLIED, None),
    ]
    assert report.stopped is None
    assert sf_sandbox.org.get("Lead", queued)["OwnerId"] == sf_sandbox.org.lead_queue_id
