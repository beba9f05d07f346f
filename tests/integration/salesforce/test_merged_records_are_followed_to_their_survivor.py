"""A Salesforce merge deletes the losing records with ``MasterRecordId`` set to the survivor: the sandbox
models it (listed by ``sobjects/X/deleted``, read by ``queryAll``), and the adapter's ``fetch`` answers a
merged-away id with its survivor, as HubSpot answers a merged contact id."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import requests
from simple_salesforce.api import Salesforce

from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.salesforce import SalesforceAdapter

pytestmark = pytest.mark.integration
MakeLead = Callable[..., str]


def test_a_merge_deletes_the_losers_with_their_master_record_id(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, make_lead: MakeLead
) -> None:
    keep, lose = make_lead(Email="keep@example.com"), make_lead(Email="lose@example.com")
    task = sf_client.Task.create({"WhoId": lose, "Subject": "Call", "Status": "Completed"})["id"]
    answer = requests.post(
        f"{sf_sandbox.instance_url}/_sandbox/merge",
        json={"object": "Lead", "master": keep, "losers": [lose]},
        verify=str(sf_sandbox.ca_path),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text

    assert sf_client.query(f"SELECT Id FROM Lead WHERE Id = '{lose}'")["totalSize"] == 0
    [row] = sf_client.query_all(f"SELECT Id, IsDeleted, MasterRecordId FROM Lead WHERE Id = '{lose}'", True)[
        "records"
    ]
    assert (row["IsDeleted"], row["MasterRecordId"]) == (True, keep)
    assert sf_client.Task.get(task)["WhoId"] == keep
    now = dt.datetime.now(dt.UTC)
    deleted = sf_client.Lead.deleted(now - dt.timedelta(minutes=5), now + dt.timedelta(minutes=2))
    assert [r["id"] for r in deleted["deletedRecords"]] == [lose]


MALFORMED = [{"object": "Opportunity"}, {"losers": "x"}, {"object": "Lead", "losers": []}]


@pytest.mark.parametrize("body", MALFORMED)
def test_a_malformed_merge_is_refused_and_changes_nothing(
    sf_sandbox: SalesforceSandbox, make_lead: MakeLead, body: dict[str, object]
) -> None:
    keep = make_lead()
    doc = {"object": "Lead", "master": keep, "losers": [make_lead()], **body}
    answer = requests.post(
        f"{sf_sandbox.instance_url}/_sandbox/merge", json=doc, verify=str(sf_sandbox.ca_path), timeout=10
    )
    assert answer.status_code == 400, answer.text
    assert not any(r["IsDeleted"] for r in sf_sandbox.org.stores["Lead"].records.values())


def test_fetch_answers_a_merged_away_id_with_its_survivor_through_every_merge(
    sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter, make_lead: MakeLead
) -> None:
    first, second, third = (make_lead(Email=f"m{n}@example.com") for n in range(3))
    deleted = make_lead(Email="plain@example.com")
    sf_sandbox.merge("Lead", second, [first])
    sf_sandbox.merge("Lead", third, [second])  # the first survivor is merged away later
    sf_sandbox.org.delete("Lead", deleted, sf_sandbox.org.admin_id)

    report = sf_adapter.fetch("Lead", [first, second[:15], third, deleted], ["Email"])
    assert report.redirected == {first: third, second[:15]: third}
    assert {k: r["Email"] for k, r in report.records.items()} == {
        first: "m2@example.com",
        second[:15]: "m2@example.com",
        third: "m2@example.com",
    }
    assert report.missing == {deleted}
