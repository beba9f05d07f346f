"""The sandbox held against example responses from Salesforce's docs and well-known client fixtures.

Each snapshot under ``snapshots/`` names its source. Values are normalised to kinds (id, datetime,
date, string, number, bool, null) so ids and timestamps may differ but keys, nesting and formats may not.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError

from sandbox.salesforce.server import SalesforceSandbox

pytestmark = pytest.mark.integration
SNAPSHOTS = Path(__file__).parent / "snapshots"
MakeLead = Callable[..., str]


def snapshot(name: str) -> Any:
    data = json.loads((SNAPSHOTS / f"{name}.json").read_text())
    assert data["source"]
    return data["body"]


def kind(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: kind(v) for k, v in value.items()}
    if isinstance(value, list):
        return [kind(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", value):
        return "datetime"
    if re.fullmatch(r"\d{4}-\d\d-\d\d", value):
        return "date"
    return "string"


def raised(call: Callable[[], Any]) -> Any:
    with pytest.raises(SalesforceError) as info:
        call()
    return info.value.content


def test_expired_session(sf_sandbox: SalesforceSandbox) -> None:
    response = sf_sandbox.session().get(
        f"{sf_sandbox.instance_url}/services/data/v59.0/query/?q=SELECT+Id+FROM+Lead",
        headers={"Authorization": "Bearer 00Dexpired"},
    )
    assert response.json() == snapshot("expired_session")


def test_oauth_success_and_error_shapes(sf_sandbox: SalesforceSandbox) -> None:
    http = sf_sandbox.session()
    url = f"{sf_sandbox.instance_url}/services/oauth2/token"
    form = {
        "grant_type": "password",
        "client_id": "sandbox-consumer-key",
        "client_secret": "sandbox-consumer-secret",
    }
    ok = http.post(
        url, data={**form, "username": "admin@crm-sync.sandbox", "password": "passwordTOKEN"}
    ).json()
    assert kind(ok) == kind(snapshot("oauth_success")) | {"token_type": "string"}
    bad = http.post(url, data={**form, "username": "admin@crm-sync.sandbox", "password": "nope"})
    assert bad.status_code == 400 and set(bad.json()) == set(snapshot("oauth_error"))


def test_create_and_write_error(sf_client: Salesforce, make_lead: MakeLead) -> None:
    created = sf_client.Lead.create({"LastName": "A", "Company": "B"})
    assert kind(dict(created)) == kind(snapshot("create_success"))
    content = raised(lambda: sf_client.Lead.update(make_lead(), {"foo": 1}))
    expected = snapshot("write_error")
    assert content == [{**expected[0], "message": expected[0]["message"].replace("type Bar", "type Lead")}]


def test_upsert_errors(sf_client: Salesforce, make_lead: MakeLead) -> None:
    assert raised(lambda: sf_client.Lead.upsert("Namez/1", {"LastName": "x"})) == snapshot("upsert_error")
    make_lead(HubSpot_Contact_ID__c="same")
    make_lead(HubSpot_Contact_ID__c="same")
    content = raised(lambda: sf_client.Lead.upsert("HubSpot_Contact_ID__c/same", {"Title": "x"}))
    expected = snapshot("upsert_multiple")
    assert kind(content) == kind(expected) and len(content) == 2
    assert all(re.fullmatch(r"/services/data/v\d+\.0/sobjects/\w+/\w+", u) for u in content + expected)


def test_query_shapes(sf_sandbox: SalesforceSandbox, sf_client: Salesforce) -> None:
    assert dict(sf_client.query("SELECT Id FROM Lead")) == snapshot("query_empty")
    org = sf_sandbox.org
    acc = org.create("Account", {"Name": "Parent"}, org.admin_id)
    contact = org.create("Contact", {"LastName": "C", "AccountId": acc}, org.admin_id)
    org.create("Task", {"WhoId": contact, "Status": "Completed", "Subject": "Child"}, org.admin_id)
    got = json.loads(
        json.dumps(
            sf_client.query(
                "SELECT Id, Name, CreatedDate, Account.Name, (SELECT Subject FROM Tasks) FROM Contact"
            )
        )
    )
    expected = snapshot("query_relationships")
    assert set(got) == set(expected)
    rec, exp = got["records"][0], expected["records"][0]
    assert next(iter(rec)) == next(iter(exp)) == "attributes" and kind(rec["attributes"]) == kind(
        exp["attributes"]
    )
    assert kind(rec["Account"]["attributes"]) == kind(exp["ParentWhizbang__r"]["attributes"])
    assert set(rec["Tasks"]) == set(exp["Whizbangs__r"])
    assert kind(rec["CreatedDate"]) == kind(exp["DateTime_Label"]) == "datetime"
    for i in range(3):
        org.create_raw("Lead", {"LastName": f"L{i}", "Company": "C"}, org.admin_id)
    single = sf_client.query("SELECT Id FROM Lead", headers={"Sforce-Query-Options": "batchSize=200"})
    assert list(single) == ["totalSize", "done", "records"]  # 3 rows fit one batch: no nextRecordsUrl


def test_paginated_first_page_matches_snapshot(sf_sandbox: SalesforceSandbox, sf_client: Salesforce) -> None:
    org = sf_sandbox.org
    for i in range(250):
        org.create_raw("Lead", {"LastName": f"L{i}", "Company": "C"}, org.admin_id)
    first = json.loads(
        json.dumps(
            sf_client.query(
                "SELECT Id, LastName FROM Lead", headers={"Sforce-Query-Options": "batchSize=200"}
            )
        )
    )
    expected = snapshot("query_first_page")
    assert list(first) == list(expected)  # totalSize, done, nextRecordsUrl, records: same keys, same order
    assert {k: kind(v) for k, v in first.items() if k != "records"} == {
        k: kind(v) for k, v in expected.items() if k != "records"
    }
    assert first["totalSize"] == 250 and first["done"] is False and len(first["records"]) == 200
    assert re.fullmatch(r"/services/data/v\d+\.\d/query/01g\w+-200", first["nextRecordsUrl"])
    assert re.fullmatch(r"/services/data/v\d+\.\d/query/01g\w*", expected["nextRecordsUrl"])
    rec, exp = first["records"][0], expected["records"][0]
    assert next(iter(rec)) == next(iter(exp)) == "attributes" and kind(rec["attributes"]) == kind(
        exp["attributes"]
    )


def test_get_updated_and_deleted(sf_client: Salesforce, make_lead: MakeLead) -> None:
    lead = make_lead()
    gone = make_lead()
    sf_client.Lead.delete(gone)
    now = dt.datetime.now(dt.UTC)
    window = (now - dt.timedelta(hours=1), now + dt.timedelta(minutes=2))
    updated = json.loads(json.dumps(sf_client.Lead.updated(*window)))
    assert kind(updated) == kind(snapshot("get_updated")) and lead in updated["ids"]
    deleted = json.loads(json.dumps(sf_client.Lead.deleted(*window)))
    assert kind(deleted) == kind(snapshot("get_deleted"))


def test_limits_shape(sf_client: Salesforce) -> None:
    limits = json.loads(json.dumps(sf_client.limits()))
    for key, value in snapshot("limits").items():
        assert kind(limits[key]) == kind(value)


def test_versions_resource_has_no_limit_header(sf_sandbox: SalesforceSandbox) -> None:
    response: requests.Response = sf_sandbox.session().get(f"{sf_sandbox.instance_url}/services/data")
    assert response.status_code == 200 and "Sforce-Limit-Info" not in response.headers
    assert {"label", "url", "version"} == set(response.json()[0])


def _normalise_ids(body: Any, ids: dict[str, str]) -> Any:
    text = json.dumps(body)
    for real, placeholder in ids.items():
        text = text.replace(real, placeholder)
    return json.loads(text)


@pytest.mark.parametrize("all_or_none", [False, True])
def test_collection_update_examples(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, all_or_none: bool
) -> None:
    org = sf_sandbox.org
    account = org.create("Account", {"Name": "A"}, org.admin_id)
    wrong = account[:15] + "999"  # an Account id with a broken suffix, sent as a Contact id
    body = sf_client.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": all_or_none,
            "records": [
                {"attributes": {"type": "Account"}, "id": account, "Industry": "Energy"},
                {"attributes": {"type": "Contact"}, "id": wrong, "Title": "Lead Engineer"},
            ],
        },
    )
    name = "collections_update_all_or_none" if all_or_none else "collections_update_partial"
    expected = snapshot(name)
    got = _normalise_ids(body, {account: "001RM000003oCprYAE", wrong: "001xx000003DGb2999"})
    assert got == expected


def test_collection_delete_example(sf_sandbox: SalesforceSandbox, sf_client: Salesforce) -> None:
    org = sf_sandbox.org
    account = org.create("Account", {"Name": "A"}, org.admin_id)
    bad = "001RM000003oLrB000"
    body = sf_client.restful("composite/sobjects", method="DELETE", params={"ids": f"{account},{bad}"})
    assert _normalise_ids(body, {account: "001RM000003oLrfYAE"}) == snapshot("collections_delete_partial")


@pytest.mark.parametrize("all_or_none", [False, True])
def test_collection_create_examples(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, make_lead: MakeLead, all_or_none: bool
) -> None:
    make_lead(Email="erica@example.com")
    sf_sandbox.org.duplicate_rule = "block"
    body = sf_client.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": all_or_none,
            "records": [
                {
                    "attributes": {"type": "Lead"},
                    "LastName": "Johnson",
                    "Company": "C",
                    "Email": "erica@example.com",
                },
                {"attributes": {"type": "Contact"}, "LastName": "Johnson", "FirstName": "Erica"},
            ],
        },
    )
    ids = {body[1]["id"]: "003RM0000068xVCYAY"} if body[1].get("id") else {}
    name = "collections_create_all_or_none" if all_or_none else "collections_create_partial"
    assert _normalise_ids(body, ids) == snapshot(name)
    assert len(sf_sandbox.org.stores["Contact"].records) == (0 if all_or_none else 1)
