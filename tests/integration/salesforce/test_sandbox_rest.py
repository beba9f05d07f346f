"""The sandbox's REST API through the real simple-salesforce client: statuses, bodies, quirks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from simple_salesforce.format import format_soql

from sandbox.salesforce.ids import case_safe_suffix
from sandbox.salesforce.server import SalesforceSandbox

pytestmark = pytest.mark.integration
MakeLead = Callable[..., str]


def _collection(sf: Salesforce, method: str, records: list[dict[str, Any]], all_or_none: bool = False) -> Any:
    return sf.restful(
        "composite/sobjects", method=method, json={"allOrNone": all_or_none, "records": records}
    )


def test_create_get_update_delete_lead(sf_client: Salesforce) -> None:
    created = sf_client.Lead.create(
        {"LastName": "Lovelace", "Company": "Analytical", "Email": "ada@example.com"}
    )
    assert created["success"] is True and created["errors"] == []
    lead_id = created["id"]
    assert lead_id.startswith("00Q") and len(lead_id) == 18
    assert lead_id[15:] == case_safe_suffix(lead_id[:15])
    assert sf_client.Lead.update(lead_id, {"Status": "Working"}) == 204
    record = sf_client.Lead.get(lead_id)
    assert record["attributes"] == {"type": "Lead", "url": f"/services/data/v59.0/sobjects/Lead/{lead_id}"}
    assert record["Status"] == "Working" and record["Name"] == "Lovelace" and record["IsConverted"] is False
    assert record["SystemModstamp"].endswith(".000+0000")
    assert sf_client.Lead.delete(lead_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as info:
        sf_client.Lead.delete(lead_id)
    assert info.value.content == [
        {"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED", "fields": []}
    ]


def test_get_unknown_record_is_not_found(sf_client: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as info:
        sf_client.Lead.get("00Q5g0000000zzzEAA")
    assert info.value.content == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]


def test_create_missing_required_fields(sf_client: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf_client.Lead.create({"FirstName": "Grace"})
    assert info.value.content == [
        {
            "message": "Required fields are missing: [LastName, Company]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["LastName", "Company"],
        }
    ]


def test_unknown_field_is_invalid_field(sf_client: Salesforce, make_lead: MakeLead) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf_client.Lead.update(make_lead(), {"Shoe_Size__c": 9})
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert info.value.content[0]["message"] == "No such column 'Shoe_Size__c' on sobject of type Lead"


def test_restricted_picklist_rejects_unknown_value(sf_client: Salesforce, make_lead: MakeLead) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf_client.Lead.update(make_lead(), {"Lead_Stage__c": "Hot Prospect"})
    assert info.value.content == [
        {
            "message": "Lead Stage: bad value for restricted picklist field: Hot Prospect",
            "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "fields": ["Lead_Stage__c"],
        }
    ]


def test_validation_rule_requires_unqualified_reason(sf_client: Salesforce, make_lead: MakeLead) -> None:
    lead = make_lead()
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf_client.Lead.update(lead, {"Status": "Unqualified"})
    assert info.value.content[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert info.value.content[0]["fields"] == ["Unqualified_Reason__c"]
    assert sf_client.Lead.update(lead, {"Status": "Unqualified", "Unqualified_Reason__c": "Not a Fit"}) == 204


def test_system_fields_are_read_only(sf_client: Salesforce, make_lead: MakeLead) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf_client.Lead.update(make_lead(), {"ConvertedContactId": "0035g0000000001AAA"})
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert info.value.content[0]["message"].startswith("Unable to create/update fields: ConvertedContactId.")


def _convert(sf_sandbox: SalesforceSandbox, sf: Salesforce, lead_id: str, extra: str = "") -> str:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:urn="urn:partner.soap.sforce.com"><soapenv:Header><urn:SessionHeader>'
        f"<urn:sessionId>{sf.session_id}</urn:sessionId></urn:SessionHeader></soapenv:Header><soapenv:Body>"
        f"<urn:convertLead><urn:leadConverts><urn:leadId>{lead_id}</urn:leadId>"
        f"<urn:convertedStatus>Converted</urn:convertedStatus>{extra}</urn:leadConverts></urn:convertLead>"
        "</soapenv:Body></soapenv:Envelope>"
    )
    response = sf.session.post(
        f"{sf_sandbox.instance_url}/services/Soap/u/59.0",
        data=body,
        headers={"Content-Type": "text/xml", "SOAPAction": "convertLead"},
    )
    assert response.status_code == 200, response.text
    return response.text


def test_convert_lead_creates_records_and_locks_lead(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, make_lead: MakeLead
) -> None:
    lead_id = make_lead(Email="grace@example.com")
    text = _convert(sf_sandbox, sf_client, lead_id)
    assert "<success>true</success>" in text
    lead = sf_client.Lead.get(lead_id)
    assert lead["IsConverted"] is True and lead["Status"] == "Converted"
    assert lead["ConvertedContactId"].startswith("003") and lead["ConvertedAccountId"].startswith("001")
    opp = sf_client.Opportunity.get(lead["ConvertedOpportunityId"])
    assert opp["AccountId"] == lead["ConvertedAccountId"] and opp["IsClosed"] is False
    assert sf_client.Contact.get(lead["ConvertedContactId"])["Email"] == "grace@example.com"
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf_client.Lead.update(lead_id, {"Status": "Working"})
    assert info.value.content == [
        {
            "message": "cannot reference converted lead",
            "errorCode": "CANNOT_UPDATE_CONVERTED_LEAD",
            "fields": [],
        }
    ]


def test_convert_without_opportunity(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, make_lead: MakeLead
) -> None:
    lead_id = make_lead()
    text = _convert(
        sf_sandbox, sf_client, lead_id, "<urn:doNotCreateOpportunity>true</urn:doNotCreateOpportunity>"
    )
    assert '<opportunityId xsi:nil="true"/>' in text
    assert sf_client.Lead.get(lead_id)["ConvertedOpportunityId"] is None


def test_upsert_by_external_id_created_updated_and_multiple(
    sf_client: Salesforce, make_lead: MakeLead
) -> None:
    first = sf_client.Lead.upsert("HubSpot_Contact_ID__c/hs-1", {"LastName": "Knuth", "Company": "Stanford"})
    assert first == 201
    assert sf_client.Lead.upsert("HubSpot_Contact_ID__c/hs-1", {"Title": "Professor"}) == 200
    assert sf_client.query("SELECT Title FROM Lead WHERE HubSpot_Contact_ID__c = 'hs-1'")["records"][0][
        "Title"
    ] == ("Professor")
    make_lead(HubSpot_Contact_ID__c="hs-2")
    make_lead(HubSpot_Contact_ID__c="hs-2")
    with pytest.raises(SalesforceMoreThanOneRecord) as info:
        sf_client.Lead.upsert("HubSpot_Contact_ID__c/hs-2", {"Title": "x"})
    assert info.value.status == 300
    assert all(url.startswith("/services/data/v59.0/sobjects/Lead/00Q") for url in info.value.content)


def test_upsert_unknown_external_id_field(sf_client: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as info:
        sf_client.Lead.upsert("Namez/x", {"LastName": "x"})
    assert info.value.content == [
        {
            "message": "Provided external ID field does not exist or is not accessible: Namez",
            "errorCode": "NOT_FOUND",
        }
    ]


def test_updated_and_deleted_resources(sf_client: Salesforce, make_lead: MakeLead) -> None:
    keep, gone = make_lead(), make_lead()
    sf_client.Lead.delete(gone)
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(hours=1), now + dt.timedelta(minutes=2)
    updated = sf_client.Lead.updated(start, end)
    assert keep in updated["ids"] and gone not in updated["ids"]
    assert updated["latestDateCovered"].endswith(":00.000+0000")
    deleted = sf_client.Lead.deleted(start, end)
    assert [r["id"] for r in deleted["deletedRecords"]] == [gone]


def test_describe_lists_picklists_and_restriction(sf_client: Salesforce) -> None:
    fields = {f["name"]: f for f in sf_client.Lead.describe()["fields"]}
    status = [v["value"] for v in fields["Status"]["picklistValues"]]
    for value in ("Open", "Contacted", "Working", "Meeting Set", "Qualified", "Unqualified", "Converted"):
        assert value in status
    assert "Open - Not Contacted" in status and fields["Status"]["restrictedPicklist"] is True
    stages = [v["value"] for v in fields["Lead_Stage__c"]["picklistValues"]]
    assert stages[:9] == [
        "Subscriber", "Lead", "Marketing Qualified Lead", "Sales Qualified Lead", "Opportunity", "Customer",
        "Evangelist", "Churned Customer", "Disqualified",
    ]  # fmt: skip
    assert {"MAL", "MQL", "SAL", "SQL", "TSM", "SAO", "LSO", "SRL", "MRL"} <= set(stages)
    assert fields["ConvertedContactId"]["updateable"] is False
    assert any(o["name"] == "Lead" and o["keyPrefix"] == "00Q" for o in sf_client.describe()["sobjects"])


def test_limits_and_request_limit_exceeded(sf_sandbox: SalesforceSandbox, sf_client: Salesforce) -> None:
    limits = sf_client.limits()
    assert limits["DailyApiRequests"]["Max"] == 100_000
    sf_sandbox.org.api_used = sf_sandbox.org.api_max
    with pytest.raises(SalesforceRefusedRequest) as info:
        sf_client.query("SELECT Id FROM Lead")
    assert info.value.status == 403
    assert info.value.content == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]


def test_query_paging_with_locators_and_batch_size(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    org = sf_sandbox.org
    for i in range(450):
        org.create_raw("Lead", {"LastName": f"L{i}", "Company": "Acme"}, org.admin_id)
    headers = {"Sforce-Query-Options": "batchSize=200"}
    first = sf_client.query("SELECT Id, LastName FROM Lead ORDER BY Id", headers=headers)
    assert (first["totalSize"], first["done"], len(first["records"])) == (450, False, 200)
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g") and first[
        "nextRecordsUrl"
    ].endswith("-200")
    ids = [r["Id"] for r in first["records"]]
    page = first
    while not page["done"]:
        page = sf_client.query_more(page["nextRecordsUrl"], identifier_is_url=True, headers=headers)
        ids += [r["Id"] for r in page["records"]]
    assert "nextRecordsUrl" not in page
    assert ids == sorted(ids) and len(set(ids)) == 450
    assert len(sf_client.query_all("SELECT Id FROM Lead")["records"]) == 450


def test_default_batch_is_2000(sf_sandbox: SalesforceSandbox, sf_client: Salesforce) -> None:
    org = sf_sandbox.org
    for i in range(2100):
        org.create_raw("Lead", {"LastName": f"L{i}", "Company": "Acme"}, org.admin_id)
    assert len(sf_client.query("SELECT Id FROM Lead")["records"]) == 2000


def test_query_escaping_count_and_relationships(sf_client: Salesforce, make_lead: MakeLead) -> None:
    make_lead(Email="o'brien@example.com")
    make_lead(Email="someone@example.com")
    soql = format_soql("SELECT Id, Email, Owner.Name FROM Lead WHERE Email = {}", "O'Brien@example.com")
    result = sf_client.query(soql)
    assert result["totalSize"] == 1
    assert result["records"][0]["Owner"]["Name"] == "Sandbox Admin"
    assert result["records"][0]["Owner"]["attributes"]["type"] == "User"
    assert sf_client.query("SELECT COUNT() FROM Lead") == {"totalSize": 2, "done": True, "records": []}
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    assert (
        sf_client.query(format_soql("SELECT Id FROM Lead WHERE SystemModstamp > {}", since))["totalSize"] == 2
    )
    assert (
        sf_client.query("SELECT Id FROM Lead WHERE CreatedDate = LAST_N_DAYS:1 AND Email LIKE '%brien%'")[
            "totalSize"
        ]
        == 1
    )


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY"),
        ("SELECT Id FROM Lead WHERE Email = 'a' AND Phone = 'b' OR Title = 'c'", "MALFORMED_QUERY"),
        ("SELECT Shoe__c FROM Lead", "INVALID_FIELD"),
        ("SELECT Id FROM Leed", "INVALID_TYPE"),
        ("SELECT Id FROM Lead WHERE CreatedDate > '2026-01-01'", "INVALID_FIELD"),
    ],
)
def test_bad_queries(sf_client: Salesforce, soql: str, code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf_client.query(soql)
    assert info.value.content[0]["errorCode"] == code


def test_query_all_includes_deleted(sf_client: Salesforce, make_lead: MakeLead) -> None:
    lead = make_lead()
    sf_client.Lead.delete(lead)
    assert sf_client.query("SELECT Id FROM Lead")["totalSize"] == 0
    rows = sf_client.query_all("SELECT Id, IsDeleted FROM Lead", include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in rows] == [(lead, True)]


def test_collection_update_mixed_results_in_order(sf_client: Salesforce, make_lead: MakeLead) -> None:
    good, bad = make_lead(), make_lead()
    results = _collection(
        sf_client,
        "PATCH",
        [
            {"attributes": {"type": "Lead"}, "id": good, "Status": "Working"},
            {"attributes": {"type": "Lead"}, "id": bad, "Status": "Not A Status"},
        ],
    )
    assert results[0] == {"id": good, "success": True, "errors": []}
    assert results[1]["success"] is False
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert sf_client.Lead.get(good)["Status"] == "Working"


def test_collection_all_or_none_rolls_back(sf_client: Salesforce, make_lead: MakeLead) -> None:
    good, bad = make_lead(), make_lead()
    results = _collection(
        sf_client,
        "PATCH",
        [
            {"attributes": {"type": "Lead"}, "id": good, "Status": "Working"},
            {"attributes": {"type": "Lead"}, "id": bad, "Status": "Unqualified"},
        ],
        all_or_none=True,
    )
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert sf_client.Lead.get(good)["Status"] == "Open - Not Contacted"


def test_collection_create_and_limit_of_200(sf_client: Salesforce) -> None:
    records = [{"attributes": {"type": "Lead"}, "LastName": f"N{i}", "Company": "C"} for i in range(200)]
    results = _collection(sf_client, "POST", records)
    assert len(results) == 200 and all(r["success"] for r in results)
    with pytest.raises(SalesforceMalformedRequest) as info:
        _collection(sf_client, "POST", [*records, records[0]])
    assert info.value.status == 400
    assert info.value.content == [
        {
            "message": "record limit reached. cannot submit more than 200 records into this call",
            "errorCode": "EXCEEDED_ID_LIMIT",
        }
    ]


def test_duplicate_rule_blocks_unless_allow_save(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, make_lead: MakeLead
) -> None:
    existing = make_lead(Email="dup@example.com")
    sf_sandbox.org.duplicate_rule = "allow_with_header"
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf_client.Lead.create({"LastName": "Dup", "Company": "C", "Email": "DUP@example.com"})
    error = info.value.content[0]
    assert error["errorCode"] == "DUPLICATES_DETECTED" and error["message"] == "Use one of these records?"
    match = error["duplicateResut"]["matchResults"][0]["matchRecords"][0]["record"]
    assert match["Id"] == existing
    created = sf_client.Lead.create(
        {"LastName": "Dup", "Company": "C", "Email": "dup@example.com"},
        headers={"Sforce-Duplicate-Rule-Header": "allowSave=true"},
    )
    assert created["success"] is True


def test_composite_retrieve_and_delete(sf_client: Salesforce, make_lead: MakeLead) -> None:
    a, b = make_lead(), make_lead()
    rows = sf_client.restful("composite/sobjects/Lead", params={"ids": f"{a},{b}", "fields": "Id,Status"})
    assert [r["Id"] for r in rows] == [a, b]
    deleted = sf_client.restful("composite/sobjects", method="DELETE", params={"ids": f"{a},{b}"})
    assert [r["success"] for r in deleted] == [True, True]


def test_child_rows_count_toward_batch_size(sf_sandbox: SalesforceSandbox, sf_client: Salesforce) -> None:
    org = sf_sandbox.org
    for i in range(300):
        lead = org.create_raw("Lead", {"LastName": f"L{i}", "Company": "Acme"}, org.admin_id)
        org.create_raw("Task", {"WhoId": lead, "Type": "Call", "Status": "Completed"}, org.admin_id)
    headers = {"Sforce-Query-Options": "batchSize=200"}
    page = sf_client.query("SELECT Id, (SELECT Id, Status FROM Tasks) FROM Lead", headers=headers)
    assert page["totalSize"] == 300 and len(page["records"]) == 100  # 100 leads + 100 tasks = 200 rows
    assert page["records"][0]["Tasks"]["totalSize"] == 1
    assert page["nextRecordsUrl"].endswith("-100")


def test_wrong_method_is_405_and_unknown_path_404(sf_sandbox: SalesforceSandbox, make_lead: MakeLead) -> None:
    http = sf_sandbox.session()
    headers = {"Authorization": f"Bearer {sf_sandbox.new_session_id()}"}
    lead = make_lead()
    put = http.put(f"{sf_sandbox.instance_url}/services/data/v59.0/sobjects/Lead/{lead}", headers=headers)
    assert put.status_code == 405 and put.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"
    missing = http.get(f"{sf_sandbox.instance_url}/services/data/v59.0/nothing/here", headers=headers)
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"


def test_locators_belong_to_their_session_and_users_hold_ten(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    org = sf_sandbox.org
    for i in range(250):
        org.create_raw("Lead", {"LastName": f"L{i}", "Company": "Acme"}, org.admin_id)
    headers = {"Sforce-Query-Options": "batchSize=200"}
    pages = [sf_client.query("SELECT Id FROM Lead", headers=headers) for _ in range(11)]
    with pytest.raises(SalesforceMalformedRequest) as info:  # the oldest of 11 cursors was dropped
        sf_client.query_more(pages[0]["nextRecordsUrl"], identifier_is_url=True)
    assert info.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    other = Salesforce(
        session_id=sf_sandbox.new_session_id(),
        instance_url=sf_sandbox.instance_url,
        session=sf_sandbox.session(),
    )
    with pytest.raises(SalesforceExpiredSession):
        other.query_more(pages[-1]["nextRecordsUrl"], identifier_is_url=True)
    assert len(sf_client.query_more(pages[-1]["nextRecordsUrl"], identifier_is_url=True)["records"]) == 50


@pytest.mark.parametrize(
    ("fault", "status", "body"),
    [
        (
            "REQUEST_LIMIT_EXCEEDED",
            403,
            [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
        ),
        (
            "UNABLE_TO_LOCK_ROW",
            400,
            [
                {
                    "message": "unable to obtain exclusive access to this record or 1 records: ",
                    "errorCode": "UNABLE_TO_LOCK_ROW",
                    "fields": [],
                }
            ],
        ),
        (
            "INVALID_SESSION_ID",
            401,
            [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
        ),
        ("SERVER_UNAVAILABLE", 503, [{"message": "Service Unavailable", "errorCode": "SERVER_UNAVAILABLE"}]),
    ],
)
def test_injected_errors_status_and_body(
    sf_sandbox: SalesforceSandbox, fault: str, status: int, body: list[dict[str, Any]]
) -> None:
    sf_sandbox.add_fault("error", error_code=fault, path="/limits")
    response = sf_sandbox.session().get(
        f"{sf_sandbox.instance_url}/services/data/v59.0/limits/",
        headers={"Authorization": f"Bearer {sf_sandbox.new_session_id()}"},
    )
    assert response.status_code == status and response.json() == body
    assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")
