"""Sandbox fidelity and adapter handling for review findings 8 to 11: SOAP convertLead counted, limited,
fault-injectable and answered with a LimitInfoHeader; queryAll locators; JWT audience; malformed ids
in Id filters."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.salesforce import LeadConversion, SalesforceAdapter, SalesforceSettings
from worker.crm.salesforce.usage import Usage
from worker.errors import CrmError, QuotaExhaustedError, RecordRejectedError

pytestmark = pytest.mark.integration
Settings = Callable[..., SalesforceSettings]
MakeLead = Callable[..., str]
SOAP_HEADERS = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "convertLead"}


def _convert_body(token: str, lead: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:partner.soap.sforce.com">'
        f"<soapenv:Header><urn:SessionHeader><urn:sessionId>{token}</urn:sessionId></urn:SessionHeader>"
        f"</soapenv:Header><soapenv:Body><urn:convertLead><urn:leadConverts><urn:leadId>{lead}</urn:leadId>"
        "<urn:convertedStatus>Converted</urn:convertedStatus></urn:leadConverts></urn:convertLead>"
        "</soapenv:Body></soapenv:Envelope>"
    ).encode()


def test_sandbox_convert_lead_is_counted_and_carries_limit_info(
    sf_sandbox: SalesforceSandbox, make_lead: MakeLead
) -> None:
    org = sf_sandbox.org
    token = sf_sandbox.new_session_id()
    url = f"{sf_sandbox.instance_url}/services/Soap/u/59.0/{org.org_id[:15]}"
    before = org.api_used
    ok = sf_sandbox.session().post(url, data=_convert_body(token, make_lead()), headers=SOAP_HEADERS)
    assert ok.status_code == 200 and org.api_used == before + 1
    assert (
        f"<LimitInfoHeader><limitInfo><current>{before + 1}</current><limit>{org.api_max}</limit>"
        "<type>API REQUESTS</type></limitInfo></LimitInfoHeader>"
    ) in ok.text
    org.api_used = org.api_max
    refused = sf_sandbox.session().post(url, data=_convert_body(token, make_lead()), headers=SOAP_HEADERS)
    assert refused.status_code == 500
    assert "<faultcode>sf:REQUEST_LIMIT_EXCEEDED</faultcode>" in refused.text
    assert "TotalRequests Limit exceeded." in refused.text and org.api_used == org.api_max


def test_adapter_convert_reads_limit_info_header_and_retries_injected_faults(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings, make_lead: MakeLead
) -> None:
    org = sf_sandbox.org
    adapter = SalesforceAdapter(sf_settings())
    lead = make_lead()
    adapter.connection.client()  # log in first: the fault below is for the convertLead call
    sf_sandbox.add_fault("error", path="/services/Soap/", error_code="SERVER_UNAVAILABLE", times=1)
    results = adapter.convert_leads([LeadConversion(lead, "Converted")])
    assert results[0].success and not org.faults  # the 503 was injected, and retried
    assert adapter.budget.latest == Usage(org.api_used, org.api_max)  # from LimitInfoHeader
    org.api_used = org.api_max
    with pytest.raises(QuotaExhaustedError) as info:
        adapter.convert_leads([LeadConversion(make_lead(), "Converted")])
    assert info.value.code == "REQUEST_LIMIT_EXCEEDED"


def test_soap_convert_share_is_checked_from_limit_info_header(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings, make_lead: MakeLead
) -> None:
    org = sf_sandbox.org
    adapter = SalesforceAdapter(sf_settings(max_api_share=0.5))
    adapter.connection.client()  # log in (SOAP login is not counted and sends no usage)
    org.api_max, org.api_used = 100, 49
    adapter.convert_leads([LeadConversion(make_lead(), "Converted")])  # usage 50/100 read from SOAP
    with pytest.raises(QuotaExhaustedError) as info:
        adapter.convert_leads([LeadConversion(make_lead(), "Converted")])
    assert info.value.code == "API_SHARE_EXHAUSTED" and org.api_used == 50


def test_query_all_next_records_url_uses_query(sf_sandbox: SalesforceSandbox, sf_client: Salesforce) -> None:
    org = sf_sandbox.org
    ids = [org.create_raw("Lead", {"LastName": f"L{i}", "Company": "C"}, org.admin_id) for i in range(250)]
    org.delete("Lead", ids[-1], org.admin_id)
    first = sf_client.query(
        "SELECT Id FROM Lead ORDER BY Id",
        include_deleted=True,
        headers={"Sforce-Query-Options": "batchSize=200"},
    )
    assert "/query/" in first["nextRecordsUrl"] and "/queryAll/" not in first["nextRecordsUrl"]
    rest = sf_client.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert rest["records"][-1]["Id"] == ids[-1]  # the locator still includes deleted rows


def test_jwt_with_a_foreign_audience_is_refused(sf_sandbox: SalesforceSandbox) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sf_sandbox.org.connected_apps["sandbox-consumer-key"]["jwt_public_key"] = key.public_key()

    def grant(aud: str) -> tuple[int, dict[str, str]]:
        claims = {"iss": "sandbox-consumer-key", "sub": "admin@crm-sync.sandbox", "aud": aud}
        assertion = jwt.encode({**claims, "exp": int(time.time()) + 180}, key, algorithm="RS256")
        answer = sf_sandbox.session().post(
            f"{sf_sandbox.instance_url}/services/oauth2/token",
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        )
        return answer.status_code, answer.json()

    assert grant("https://not-salesforce.example") == (
        400,
        {"error": "invalid_grant", "error_description": "audience is invalid"},
    )
    assert grant("https://test.salesforce.com")[0] == 200
    assert grant("https://acme.my.salesforce.com")[0] == 200


def test_malformed_id_in_an_id_filter_is_refused(sf_client: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf_client.query("SELECT Id FROM Lead WHERE Id IN ('00Q000000000001', 'not-an-id')")
    assert info.value.status == 400
    assert info.value.content == [
        {"message": "invalid ID field: not-an-id", "errorCode": "INVALID_QUERY_FILTER_OPERATOR"}
    ]
    assert sf_client.query("SELECT Id FROM Lead WHERE Id = '003000000000001AAA'")["totalSize"] == 0


def test_adapter_reports_malformed_ids_per_id(sf_adapter: SalesforceAdapter, make_lead: MakeLead) -> None:
    good = [make_lead(), make_lead()]
    invalid: dict[str, CrmError] = {}
    rows = sf_adapter.read_by_ids(
        "Lead", [good[0], "not-an-id", "003000000000001", good[1]], ["Email"], invalid=invalid
    )
    assert sorted(r["Id"] for r in rows) == sorted(good)
    assert list(invalid) == ["not-an-id"]
    assert (
        isinstance(invalid["not-an-id"], RecordRejectedError) and invalid["not-an-id"].code == "MALFORMED_ID"
    )
