"""Bulk API 2.0 ingest (upsert jobs: CSV upload, state transitions, successful / failed / unprocessed
results) through simple-salesforce's Bulk 2.0 client, and the adapter's large writes going through it
with every record's outcome kept."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from simple_salesforce.api import Salesforce

from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.port import Outcome, WriteOp
from worker.crm.salesforce import SalesforceAdapter, SalesforceSettings

pytestmark = pytest.mark.integration
Settings = Callable[..., SalesforceSettings]
KEY = "HubSpot_Contact_ID__c"


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_an_upsert_job_reports_successes_and_failures(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    existing = sf_sandbox.org.create(
        "Lead", {"LastName": "Old", "Company": "C", KEY: "h-1"}, sf_sandbox.org.admin_id
    )
    records = [
        {KEY: "h-1", "LastName": "Updated", "Company": "C"},
        {KEY: "h-2", "LastName": "New", "Company": "C", "Status": "Working"},
        {KEY: "h-3", "LastName": "Bad", "Company": "C", "Status": "Nope"},
    ]
    [summary] = sf_client.bulk2.Lead.upsert(records=records, external_id_field=KEY, wait=0)
    assert (summary["numberRecordsProcessed"], summary["numberRecordsFailed"]) == (3, 1)
    ok = _rows(sf_client.bulk2.Lead.get_successful_records(summary["job_id"]))
    assert {r[KEY]: (r["sf__Created"], r["sf__Id"]) for r in ok}["h-1"] == ("false", existing)
    assert {r[KEY]: r["sf__Created"] for r in ok}["h-2"] == "true"
    [failed] = _rows(sf_client.bulk2.Lead.get_failed_records(summary["job_id"]))
    assert failed[KEY] == "h-3" and failed["sf__Error"].startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:")
    assert _rows(sf_client.bulk2.Lead.get_unprocessed_records(summary["job_id"])) == []
    assert sf_sandbox.org.get("Lead", existing)["LastName"] == "Updated"


def test_job_states_and_an_aborted_jobs_unprocessed_rows(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    http = sf_sandbox.session()
    base = sf_client.bulk2_url + "ingest"
    auth = {"Authorization": f"Bearer {sf_client.session_id}"}
    job = http.post(base, json={"object": "Lead", "operation": "upsert", "externalIdFieldName": KEY,
                                "contentType": "CSV", "lineEnding": "LF"}, headers=auth).json()  # fmt: skip
    assert job["state"] == "Open" and job["contentUrl"].endswith(f"/jobs/ingest/{job['id']}/batches")
    put = http.put(f"{base}/{job['id']}/batches", data=f"{KEY},LastName,Company\nh-9,X,C\n",
                   headers={**auth, "Content-Type": "text/csv"})  # fmt: skip
    assert put.status_code == 201
    aborted = http.patch(f"{base}/{job['id']}", json={"state": "Aborted"}, headers=auth).json()
    assert aborted["state"] == "Aborted"
    unprocessed = _rows(http.get(f"{base}/{job['id']}/unprocessedrecords", headers=auth).text)
    assert unprocessed == [{KEY: "h-9", "LastName": "X", "Company": "C"}]
    assert not [r for r in sf_sandbox.org.stores["Lead"].records.values() if r.get(KEY) == "h-9"]
    sf_sandbox.org.bulk_job_polls = 1
    job2 = http.post(base, json={"object": "Lead", "operation": "upsert", "externalIdFieldName": KEY},
                     headers=auth).json()  # fmt: skip
    http.put(f"{base}/{job2['id']}/batches", data=f"{KEY},LastName,Company\nh-8,Y,C\n",
             headers={**auth, "Content-Type": "text/csv"})  # fmt: skip
    http.patch(f"{base}/{job2['id']}", json={"state": "UploadComplete"}, headers=auth)
    states = [http.get(f"{base}/{job2['id']}", headers=auth).json()["state"] for _ in range(2)]
    assert states == ["InProgress", "JobComplete"]


def test_large_writes_go_through_bulk_with_every_outcome_kept(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings
) -> None:
    org = sf_sandbox.org
    leads = [org.create("Lead", {"LastName": f"L{i}", "Company": "C"}, org.admin_id) for i in range(30)]
    adapter = SalesforceAdapter(sf_settings(bulk_write_threshold=20))
    ops = [WriteOp(f"c-{i}", "create", "Lead", {"LastName": f"N{i}", "Company": "C"}) for i in range(25)]
    ops.append(WriteOp("c-bad", "create", "Lead", {"LastName": "Bad", "Company": "C", "Status": "Nope"}))
    ops += [WriteOp(rid, "update", "Lead", {"Title": "CTO"}, rid) for rid in leads[:25]]
    ops.append(WriteOp("gone", "update", "Lead", {"Title": "CTO"}, leads[25][:15] + "XYZ"))
    org.delete("Lead", leads[29], org.admin_id)
    ops.append(WriteOp("deleted", "update", "Lead", {"Title": "CTO"}, leads[29]))
    report = adapter.apply(ops)
    by_key = {r.key: r for r in report.results}
    assert len(report.results) == len(ops) and report.stopped is None
    assert all(by_key[f"c-{i}"].ok and by_key[f"c-{i}"].created for i in range(25))
    assert by_key["c-bad"].state is Outcome.REJECTED
    assert by_key["c-bad"].code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert all(by_key[rid].ok and by_key[rid].created is False for rid in leads[:25])
    assert by_key["deleted"].state is Outcome.REJECTED and by_key["deleted"].code == "ENTITY_IS_DELETED"
    assert by_key["gone"].state is Outcome.REJECTED
    assert all(org.get("Lead", rid)["Title"] == "CTO" for rid in leads[:25])
    made = [r for r in org.stores["Lead"].records.values() if str(r.get("LastName", "")).startswith("N")]
    assert len(made) == 25 and all(r["HubSpot_Contact_ID__c"] for r in made)  # keyed: safe to re-send
    assert (
        adapter.calls <= 1 + 2 * 7
    )  # the token, then per object-group job: create, upload, close, poll, 3 results
