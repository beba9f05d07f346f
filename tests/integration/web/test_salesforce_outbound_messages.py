"""Salesforce Outbound Messages into the dirty set: the sandbox's real deliveries (SOAP, retried until
Ack) are recorded and Ack'ed; the wrong org, XML entity tricks and malformed envelopes get a SOAP
fault and nothing is queued. Real uvicorn, real Redis, the Salesforce sandbox over HTTPS."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests
from simple_salesforce.api import Salesforce

from sandbox.salesforce.ids import make_id
from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.salesforce import SalesforceSettings
from worker.crm.salesforce.connection import build_http
from worker.state.dirty import DirtySet
from worker.web.app import create_app
from worker.web.salesforce import ACK, OUTBOUND_NS, SOAP_NS
from worker.web.settings import WebSettings

from .conftest import serve_in_thread

pytestmark = pytest.mark.integration
ORG = make_id("00D", 1)
OTHER_ORG = make_id("00D", 2)
LEAD = make_id("00Q", 7)
CONTACT = make_id("003", 8)
XML = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}


@pytest.fixture
def dirty(redis_client: Any) -> DirtySet:
    return DirtySet(redis_client, "salesforce")


def serve(redis_client: Any, org_id: str) -> Any:
    return serve_in_thread(create_app(WebSettings(salesforce_org_id=org_id), redis_client))


@pytest.fixture(scope="module")
def server(redis_url: str) -> Iterator[str]:
    """One app for the module (each test still starts from a flushed database)."""
    client = redis.Redis.from_url(redis_url)
    with serve(client, ORG) as base:
        yield base + "/webhooks/salesforce/outbound"
    client.close()


@pytest.fixture
def endpoint(server: str, redis_client: Any) -> str:
    return server


def envelope(org: str = ORG, notes: str | None = None, prolog: str = "") -> bytes:
    if notes is None:
        notes = notification(make_id("04l", 1), "Lead", LEAD)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f'<soapenv:Body><notifications xmlns="{OUTBOUND_NS}"><OrganizationId>{org}</OrganizationId>'
        f'<ActionId>{make_id("04k", 1)}</ActionId><SessionId xsi:nil="true"/>'
        "<EnterpriseUrl>https://x/services/Soap/c/59.0</EnterpriseUrl>"
        "<PartnerUrl>https://x/services/Soap/u/59.0</PartnerUrl>"
        f"{notes}</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def notification(note_id: str, sobject: str, record_id: str, extra: str = "") -> str:
    return (
        f'<Notification><Id>{note_id}</Id><sObject xsi:type="sf:{sobject}" '
        f'xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>{record_id}</sf:Id>{extra}'
        "</sObject></Notification>"
    )


def fault_of(response: requests.Response) -> tuple[str, str]:
    root = ET.fromstring(response.content)
    fault = root.find(f"{{{SOAP_NS}}}Body/{{{SOAP_NS}}}Fault")
    assert fault is not None, response.text
    return fault.findtext("faultcode") or "", fault.findtext("faultstring") or ""


def test_the_ack_is_the_documented_notifications_response(endpoint: str, dirty: DirtySet) -> None:
    r = requests.post(endpoint, data=envelope(), headers=XML)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
    assert r.text == ACK
    root = ET.fromstring(r.content)
    ack = root.find(f"{{{SOAP_NS}}}Body/{{{OUTBOUND_NS}}}notificationsResponse/{{{OUTBOUND_NS}}}Ack")
    assert ack is not None and ack.text == "true"
    assert dirty.members("Lead") == {LEAD}


def test_a_redelivered_notification_is_recorded_once(
    endpoint: str, dirty: DirtySet, redis_client: Any
) -> None:
    body = envelope()
    assert requests.post(endpoint, data=body, headers=XML).status_code == 200
    dirty.pop("Lead")
    assert requests.post(endpoint, data=body, headers=XML).text == ACK  # still Ack'ed
    assert dirty.size("Lead") == 0  # the same notification is not queued again
    assert len(list(redis_client.scan_iter("crmsync:event:salesforce:*"))) == 1


def test_fifteen_character_org_id_setting_is_accepted(redis_client: Any, dirty: DirtySet) -> None:
    with serve(redis_client, ORG[:15]) as base:
        r = requests.post(base + "/webhooks/salesforce/outbound", data=envelope(), headers=XML)
    assert r.status_code == 200 and dirty.members("Lead") == {LEAD}


def test_wrong_organisation_is_a_client_fault_and_nothing_queued(endpoint: str, dirty: DirtySet) -> None:
    r = requests.post(endpoint, data=envelope(org=OTHER_ORG), headers=XML)
    assert r.status_code == 403
    assert fault_of(r) == ("soapenv:Client", "OrganizationId is not the org this endpoint serves")
    assert dirty.size("Lead") == 0


BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
)


@pytest.mark.parametrize(
    "body",
    [
        envelope(
            prolog=BILLION_LAUGHS,
            notes=notification(make_id("04l", 1), "Lead", LEAD, "<sf:Email>&lol4;</sf:Email>"),
        ),
        envelope(
            prolog='<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
            notes=notification(make_id("04l", 1), "Lead", LEAD, "<sf:Email>&xxe;</sf:Email>"),
        ),
        envelope(prolog='<!DOCTYPE x SYSTEM "http://127.0.0.1:9/evil.dtd">'),
        envelope(prolog='<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>'),
        envelope(prolog="<!DOCTYPE x []>"),
    ],
    ids=["billion-laughs", "xxe-file", "external-dtd", "parameter-entity", "empty-doctype"],
)
def test_entity_expansion_and_external_entities_are_refused(
    endpoint: str, dirty: DirtySet, body: bytes
) -> None:
    started = time.monotonic()
    r = requests.post(endpoint, data=body, headers=XML)
    assert r.status_code == 400
    code, message = fault_of(r)
    assert code == "soapenv:Client" and "DTD" in message
    assert "root:" not in r.text  # nothing of /etc/passwd comes back
    assert time.monotonic() - started < 2
    assert dirty.size("Lead") == 0


@pytest.mark.parametrize("encoding", ["nope", "UTF-7"])
def test_an_unsupported_xml_encoding_is_a_client_fault(endpoint: str, dirty: DirtySet, encoding: str) -> None:
    body = envelope().replace(b'encoding="UTF-8"', f'encoding="{encoding}"'.encode())
    r = requests.post(endpoint, data=body, headers=XML)
    assert r.status_code == 400 and fault_of(r)[0] == "soapenv:Client"
    assert "encoding is not supported" in fault_of(r)[1] and dirty.size("Lead") == 0


def _many(n: int) -> str:
    return "".join(notification(make_id("04l", i), "Lead", make_id("00Q", i)) for i in range(1, n + 1))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not xml", "not well-formed"),
        (b"<a><b></a>", "not well-formed"),
        (b'<x xmlns="urn:other"/>', "SOAP 1.1 Envelope"),
        (f'<e:Envelope xmlns:e="{SOAP_NS}"/>'.encode(), "no Body"),
        (f'<e:Envelope xmlns:e="{SOAP_NS}"><e:Body/></e:Envelope>'.encode(), "no notifications"),
        (envelope(notes=""), "1 to 100"),
        (envelope(notes=_many(101)), "1 to 100"),
        (envelope(org="00Dshort"), "OrganizationId"),
        (envelope(notes=notification("bad", "Lead", LEAD)), "Notification Id"),
        (envelope(notes=notification(make_id("04l", 1), "Lead", LEAD[:15] + "ZZZ")), "suffix"),
        (envelope(notes=notification(make_id("04l", 1), "Lead", CONTACT)), "not a Lead id"),
        (envelope(notes=notification(make_id("04l", 1), "Lead", "../../etc/passwd")), "Salesforce id"),
        (envelope(notes=notification(make_id("04l", 1), "", LEAD)), "xsi:type"),
        (
            envelope(
                notes=notification(make_id("04l", 1), "Lead", LEAD)
                + notification(make_id("04l", 2), "Lead", "00Q")
            ),
            "Salesforce id",
        ),
        (
            envelope().replace(b"<OrganizationId>", b"<OrgId>").replace(b"</OrganizationId>", b"</OrgId>"),
            "no OrganizationId",
        ),
        ("<é/>".encode("latin-1"), "not well-formed"),
    ],
    ids=[
        "not-xml",
        "unbalanced",
        "not-soap",
        "no-body",
        "no-notifications",
        "zero-notifications",
        "101-notifications",
        "short-org",
        "bad-note-id",
        "bad-suffix",
        "contact-id-as-lead",
        "path-as-id",
        "no-type",
        "one-bad-among-good",
        "no-org-element",
        "latin-1",
    ],
)
def test_malformed_envelope_is_a_client_fault_and_nothing_queued(
    endpoint: str, dirty: DirtySet, body: bytes, message: str
) -> None:
    r = requests.post(endpoint, data=body, headers=XML)
    assert r.status_code == 400
    code, text = fault_of(r)
    assert code == "soapenv:Client" and message in text, text
    assert dirty.size("Lead") == 0


def test_a_body_that_is_not_text_xml_is_refused_before_it_is_read(endpoint: str) -> None:
    r = requests.post(endpoint, data=envelope(), headers={"Content-Type": "application/json"})
    assert r.status_code == 415 and fault_of(r)[0] == "soapenv:Client"


def test_types_not_followed_are_acked_and_not_queued(endpoint: str, dirty: DirtySet) -> None:
    notes = notification(make_id("04l", 1), "Case", make_id("500", 1)) + notification(
        make_id("04l", 2), "Contact", CONTACT
    )
    r = requests.post(endpoint, data=envelope(notes=notes), headers=XML)
    assert r.text == ACK
    assert dirty.members("Contact") == {CONTACT} and dirty.size("Case") == 0


@pytest.fixture
def sandbox() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox() as sb:
        yield sb


def _client(sb: SalesforceSandbox) -> Salesforce:
    settings = SalesforceSettings(
        auth_mode="soap",
        username="admin@crm-sync.sandbox",
        password="password",
        security_token="TOKEN",
        login_url=sb.instance_url,
        ca_bundle=sb.ca_path,
    )
    return Salesforce(
        username="admin@crm-sync.sandbox",
        password="password",
        security_token="TOKEN",
        session=build_http(settings),
    )


def _wait(condition: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_sandbox_outbound_messages_land_in_the_dirty_set_and_are_acked(
    sandbox: SalesforceSandbox, redis_client: Any, dirty: DirtySet
) -> None:
    with serve(redis_client, sandbox.org.org_id) as base:
        sender = sandbox.enable_outbound(base + "/webhooks/salesforce/outbound", initial_delay=0.02)
        sf = _client(sandbox)
        lead = sf.Lead.create({"LastName": "Outbound", "Company": "C", "Status": "Open - Not Contacted"})[
            "id"
        ]
        account = sf.Account.create({"Name": "Acme"})["id"]
        contact = sf.Contact.create({"LastName": "C", "AccountId": account})["id"]
        _wait(lambda: dirty.size("Lead") and dirty.size("Contact"))
        sf.Lead.update(lead, {"Status": "Working - Contacted"})
        _wait(lambda: len(sender.delivered) >= 3)
        sender.stop()
    assert dirty.members("Lead") == {lead} and dirty.members("Contact") == {contact}
    assert len(sender.delivered) >= 3  # create, create, update: each Ack'ed
    assert sender.attempts <= len(sender.delivered)  # no message needed a retry


def test_sandbox_messages_to_the_wrong_org_are_never_acked_nor_queued(
    sandbox: SalesforceSandbox, redis_client: Any, dirty: DirtySet
) -> None:
    with serve(redis_client, OTHER_ORG) as base:
        sender = sandbox.enable_outbound(
            base + "/webhooks/salesforce/outbound", initial_delay=0.02, max_delay=0.05
        )
        _client(sandbox).Lead.create({"LastName": "W", "Company": "C"})
        _wait(lambda: sender.attempts >= 3)
        sender.stop()
    assert sender.attempts >= 3 and sender.delivered == []  # Salesforce keeps re-sending
    assert dirty.size("Lead") == 0
