"""Every input of a write gets an outcome, and an ambiguous one is resolved by reading back — both
adapters, through the real clients against the sandboxes' fault injection (issue 12 items 1-3)."""

from __future__ import annotations

from collections import Counter

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.integration.sandboxes import hs_settings, sf_settings
from worker.crm.hubspot import HubSpotAdapter
from worker.crm.port import CrmPort, Outcome, StopReason, WriteOp
from worker.crm.salesforce import SalesforceAdapter

pytestmark = pytest.mark.integration

HS_UPSERT = "/crm/v3/objects/contacts/batch/upsert"
HS_UPDATE = "/crm/v3/objects/contacts/batch/update"


def states(report: object) -> Counter[Outcome]:
    return Counter(r.state for r in getattr(report, "results"))  # noqa: B009


def handles_in(box: HubSpotSandbox, handle: str) -> list[int]:
    store = box.portal.stores["contacts"]
    return [r.id for r in store.records.values() if r.props.get("crmsync_key") == handle]


def test_both_adapters_implement_the_port(sf: SalesforceAdapter, hs: HubSpotAdapter) -> None:
    assert isinstance(sf, CrmPort) and isinstance(hs, CrmPort)
    assert (sf.side, hs.side) == ("salesforce", "hubspot")


# -- item 1: HubSpot writes that stop part-way report every input ----------------------------------
def test_hubspot_create_stopped_by_a_failing_fourth_batch_reports_all_1000(hs_box: HubSpotSandbox) -> None:
    adapter = HubSpotAdapter(hs_settings(hs_box, max_attempts=2))
    hs_box.arm_fault(path_prefix=HS_UPSERT, status=503, skip=3, count=2)  # 4th batch fails both tries
    inputs = {f"h-{i}": {"firstname": f"P{i}", "email": f"p{i}@example.com"} for i in range(1000)}
    report = adapter.create(inputs)
    assert len(report.results) == 1000 and [r.key for r in report.results] == list(inputs)
    assert states(report) == {Outcome.APPLIED: 300, Outcome.UNKNOWN: 100, Outcome.NOT_APPLIED: 600}
    assert report.stopped is not None and report.stopped.reason is StopReason.RETRIES_EXHAUSTED
    assert len(hs_box.portal.stores["contacts"].records) == 300
    assert all(r.id is not None for r in report.in_state(Outcome.APPLIED))

    resolved = adapter.reconcile(report)  # the 503 batch never reached the portal: safe to re-send
    assert states(resolved) == {Outcome.APPLIED: 300, Outcome.NOT_APPLIED: 700}


def test_hubspot_update_with_five_good_batches_reports_500_applied(
    hs_box: HubSpotSandbox, hs: HubSpotAdapter
) -> None:
    made = hs.create({f"h-{i}": {"firstname": "A"} for i in range(1000)})
    ids = [r.id or "" for r in made.results]
    adapter = HubSpotAdapter(hs_settings(hs_box, max_attempts=2))
    hs_box.arm_fault(path_prefix=HS_UPDATE, status=503, skip=5, count=2)
    report = adapter.update({i: {"firstname": "B"} for i in ids})
    assert states(report) == {Outcome.APPLIED: 500, Outcome.UNKNOWN: 100, Outcome.NOT_APPLIED: 400}
    assert [r.key for r in report.results[:500]] == ids[:500]
    assert all(r.op is not None and r.op.values == {"firstname": "B"} for r in report.results)


def test_hubspot_write_refused_for_quota_is_not_applied_not_unknown(hs_box: HubSpotSandbox) -> None:
    adapter = HubSpotAdapter(hs_settings(hs_box, max_attempts=1))
    daily = {"status": "error", "message": "daily limit", "errorType": "RATE_LIMIT", "policyName": "DAILY"}
    hs_box.arm_fault(path_prefix=HS_UPSERT, status=429, body=daily, skip=1, count=1)
    report = adapter.create({f"h-{i}": {"firstname": "Q"} for i in range(150)})
    assert report.stopped is not None and report.stopped.reason is StopReason.QUOTA
    assert states(report) == {Outcome.APPLIED: 100, Outcome.NOT_APPLIED: 50}


# -- item 2: a batch cut after commit is UNKNOWN, and reading back resolves it ----------------------
def test_salesforce_batch_committed_then_dropped_is_unknown_until_read_back(
    sf_box: SalesforceSandbox,
) -> None:
    org = sf_box.org
    ids = [org.create("Lead", {"LastName": f"L{i}", "Company": "C"}, org.admin_id) for i in range(1000)]
    adapter = SalesforceAdapter(sf_settings(sf_box, retry_attempts=2))
    # the first batch commits, then its answer is lost on both tries: the write stops there
    sf_box.add_fault("drop_after", path="/composite/sobjects$", method="PATCH", times=2)
    report = adapter.update("Lead", [(i, {"Status": "Working"}) for i in ids])
    by_batch = [Counter(r.state for r in report.results[b : b + 200]) for b in range(0, 1000, 200)]
    assert by_batch[0] == {Outcome.UNKNOWN: 200}
    assert all(c == {Outcome.NOT_APPLIED: 200} for c in by_batch[1:])
    assert report.stopped is not None and report.stopped.reason is StopReason.RETRIES_EXHAUSTED
    assert sum(org.get("Lead", i)["Status"] == "Working" for i in ids) == 200  # it did commit

    resolved = adapter.reconcile(report)
    assert Counter(r.state for r in resolved.results[:200]) == {Outcome.APPLIED: 200}
    assert Counter(r.state for r in resolved.results[200:]) == {Outcome.NOT_APPLIED: 800}


def test_salesforce_unknown_update_that_did_not_commit_reads_back_not_applied(
    sf_box: SalesforceSandbox,
) -> None:
    org = sf_box.org
    lead = org.create("Lead", {"LastName": "N", "Company": "C"}, org.admin_id)
    adapter = SalesforceAdapter(sf_settings(sf_box, retry_attempts=2))
    sf_box.add_fault(
        "error", path="/composite/sobjects$", method="PATCH", error_code="UNKNOWN_EXCEPTION", times=2
    )
    report = adapter.update("Lead", [(lead, {"Status": "Working"})])
    assert report[lead].state is Outcome.UNKNOWN  # a 500: the server may or may not have saved it
    assert adapter.reconcile(report)[lead].state is Outcome.NOT_APPLIED


def test_hubspot_update_committed_then_dropped_reads_back_applied(
    hs_box: HubSpotSandbox, hs: HubSpotAdapter
) -> None:
    made = hs.create({"h-1": {"firstname": "A"}, "h-2": {"firstname": "A"}})
    ids = [r.id or "" for r in made.results]
    adapter = HubSpotAdapter(hs_settings(hs_box, max_attempts=2))
    hs_box.arm_fault(path_prefix=HS_UPDATE, drop_after=True, count=2)
    report = adapter.update({i: {"firstname": "B"} for i in ids})
    assert states(report) == {Outcome.UNKNOWN: 2}
    assert states(adapter.reconcile(report)) == {Outcome.APPLIED: 2}


# -- item 3: a HubSpot create without email is never duplicated by a lost answer -------------------
def test_hubspot_create_without_email_whose_answer_is_lost_makes_one_contact(
    hs_box: HubSpotSandbox, hs: HubSpotAdapter
) -> None:
    hs_box.arm_fault(path_prefix=HS_UPSERT, drop_after=True, count=1)  # committed, answer dropped, re-sent
    report = hs.create({"sf:Lead:00Q000000000001": {"firstname": "No", "lastname": "Email"}})
    result = report["sf:Lead:00Q000000000001"]
    assert result.ok and result.created is False  # the re-send found the contact the first send made
    assert handles_in(hs_box, "sf:Lead:00Q000000000001") == [int(result.id or 0)]
    assert len(hs_box.portal.stores["contacts"].records) == 1


def test_hubspot_create_lost_for_good_is_found_by_its_handle_before_any_resend(
    hs_box: HubSpotSandbox,
) -> None:
    adapter = HubSpotAdapter(hs_settings(hs_box, max_attempts=2))
    hs_box.arm_fault(path_prefix=HS_UPSERT, drop_after=True, count=2)
    report = adapter.apply([WriteOp("00Q000000000002", "create", "contacts", {"firstname": "Lost"})])
    assert report["00Q000000000002"].state is Outcome.UNKNOWN
    resolved = adapter.reconcile(report)["00Q000000000002"]
    assert resolved.ok and resolved.id is not None
    again = adapter.apply([WriteOp("00Q000000000002", "create", "contacts", {"firstname": "Lost"})])
    assert again["00Q000000000002"].id == resolved.id and again["00Q000000000002"].created is False
    assert len(hs_box.portal.stores["contacts"].records) == 1


def test_salesforce_create_handle_goes_to_the_key_field(
    sf_box: SalesforceSandbox, sf: SalesforceAdapter
) -> None:
    sf_box.add_fault(
        "drop_after", path="/composite/sobjects/Lead/HubSpot_Contact_ID__c$", method="PATCH", times=1
    )
    report = sf.apply([WriteOp("901", "create", "Lead", {"LastName": "Keyed", "Company": "C"})])
    assert report["901"].ok
    leads = [r for r in sf_box.org.stores["Lead"].records.values() if r.get("LastName") == "Keyed"]
    assert len(leads) == 1 and leads[0]["HubSpot_Contact_ID__c"] == "901"
