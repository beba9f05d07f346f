"""Outbound Messages (SOAP notifications retried until Ack) and the /_sandbox control surface."""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceGeneralError

from sandbox.salesforce.server import SalesforceSandbox

pytestmark = pytest.mark.integration
ACK = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    '<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>{}</Ack>'
    "</notificationsResponse></soapenv:Body></soapenv:Envelope>"
)


class Receiver:
    def __init__(self, nacks: int) -> None:
        self.bodies: list[bytes] = []
        self.nacks = nacks
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.bodies.append(body)
                ack = "false" if len(receiver.bodies) <= receiver.nacks else "true"
                payload = ACK.format(ack).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/salesforce/outbound"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(nacks=2)
    yield r
    r.server.shutdown()


def test_outbound_message_retried_until_ack(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, receiver: Receiver
) -> None:
    sender = sf_sandbox.enable_outbound(receiver.url, initial_delay=0.02, max_delay=0.1)
    lead = sf_client.Lead.create({"LastName": "Outbound", "Company": "C", "Status": "Working"})["id"]
    deadline = time.monotonic() + 10
    while not sender.delivered and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(sender.delivered) == 1
    assert len(receiver.bodies) == 3  # two Ack=false answers, then Ack=true
    root = ET.fromstring(receiver.bodies[-1])
    ns = {"o": "http://soap.sforce.com/2005/09/outbound", "sf": "urn:sobject.enterprise.soap.sforce.com"}
    note = root.find(".//o:notifications", ns)
    assert note is not None
    assert note.findtext("o:OrganizationId", namespaces=ns) == sf_sandbox.org.org_id
    sobject = note.find("o:Notification/o:sObject", ns)
    assert sobject is not None
    assert sobject.findtext("sf:Id", namespaces=ns) == lead
    assert sobject.findtext("sf:Status", namespaces=ns) == "Working"
    sender.stop()


def test_control_surface_faults_settings_and_reset(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    http = sf_sandbox.session()
    base = sf_sandbox.instance_url
    created = http.post(
        f"{base}/_sandbox/faults", json={"kind": "error", "error_code": "SERVER_UNAVAILABLE", "times": 1}
    )
    assert created.status_code == 201
    with pytest.raises(SalesforceGeneralError) as info:
        sf_client.query("SELECT Id FROM Lead")
    assert info.value.status == 503
    assert sf_client.query("SELECT COUNT() FROM Lead")["totalSize"] == 0
    settings = http.post(f"{base}/_sandbox/settings", json={"duplicate_rule": "block"}).json()
    assert settings["duplicate_rule"] == "block"
    assert http.post(f"{base}/_sandbox/seed", json={"count": 40, "seed": 7}).json()["Lead"] == 40
    assert sf_client.query("SELECT COUNT() FROM Lead")["totalSize"] == 40
    assert http.post(f"{base}/_sandbox/reset").status_code == 200
    assert sf_sandbox.org.stores["Lead"].records == {}


def test_seed_is_deterministic() -> None:
    from sandbox.salesforce.models import Org
    from sandbox.salesforce.seed import seed_org

    first, second = Org(), Org()
    seed_org(first, 200, seed=3)
    seed_org(second, 200, seed=3)
    strip = ("CreatedDate", "LastModifiedDate", "SystemModstamp")

    def rows(org: Org) -> list[dict[str, object]]:
        return [{k: v for k, v in r.items() if k not in strip} for r in org.stores["Lead"].records.values()]

    assert rows(first) == rows(second)
    assert len(first.stores["Opportunity"].records) == 4
