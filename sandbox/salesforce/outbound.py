"""Outbound Messages: the org POSTs the SOAP ``notifications`` envelope on Lead/Contact changes and
retries until the endpoint answers ``<Ack>true</Ack>``.

Shape (api sforce_api_om_outboundmessaging_wsdl.htm; reference §5a): ``notifications`` in namespace
``http://soap.sforce.com/2005/09/outbound`` with OrganizationId, ActionId, SessionId (nil unless "Send
Session ID"), EnterpriseUrl, PartnerUrl and 1-100 ``Notification`` elements ``{Id, sObject}``; the
sObject is typed ``sf:Lead`` in ``urn:sobject.enterprise.soap.sforce.com`` (namespace UNVERIFIED here).
Delivery is at least once, possibly out of order, and each message carries the latest field values
(api sforce_api_om_outboundmessaging_notifications.htm). Real retries back off up to 2 h for 24 h; the
sandbox keeps the doubling but starts at ``initial_delay`` seconds and caps at ``max_delay``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from html import escape
from typing import Any

import requests

from sandbox.salesforce.ids import make_id
from sandbox.salesforce.models import Org, Record, format_datetime

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
MAX_PER_MESSAGE = 100
DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "Lead": ("Id", "Email", "Status", "Lead_Stage__c", "IsConverted", "ConvertedContactId", "SystemModstamp"),
    "Contact": ("Id", "Email", "Lead_Stage__c", "AccountId", "SystemModstamp"),
}


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def envelope(org: Org, base_url: str, notes: list[tuple[str, str, Record]]) -> str:
    parts = []
    for note_id, obj_name, rec in notes:
        fields = []
        for name in DEFAULT_FIELDS[obj_name]:
            value = rec.get(name)
            if name in {"SystemModstamp"}:
                value = format_datetime(value)
            if value is None:
                fields.append(f'<sf:{name} xsi:nil="true"/>')
            else:
                fields.append(f"<sf:{name}>{_value(value)}</sf:{name}>")
        parts.append(
            f'<Notification><Id>{note_id}</Id><sObject xsi:type="sf:{obj_name}" xmlns:sf="{SOBJECT_NS}">'
            + "".join(fields)
            + "</sObject></Notification>"
        )
    org15 = org.org_id[:15]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f'<soapenv:Body><notifications xmlns="{OUTBOUND_NS}">'
        f"<OrganizationId>{org.org_id}</OrganizationId><ActionId>{make_id('04k', 1)}</ActionId>"
        '<SessionId xsi:nil="true"/>'
        f"<EnterpriseUrl>{base_url}/services/Soap/c/59.0/{org15}</EnterpriseUrl>"
        f"<PartnerUrl>{base_url}/services/Soap/u/59.0/{org15}</PartnerUrl>"
        + "".join(parts)
        + "</notifications></soapenv:Body></soapenv:Envelope>"
    )


def is_ack(response: requests.Response) -> bool:
    text = response.text.replace(" ", "")
    return response.status_code == 200 and ">true</Ack>" in text and "notificationsResponse" in text


class OutboundSender:
    """Queues notifications (latest values per record) and delivers them from a background thread."""

    def __init__(
        self,
        org: Org,
        base_url: str,
        *,
        verify: str | bool = True,
        initial_delay: float = 0.05,
        max_delay: float = 2.0,
        post: Callable[..., requests.Response] | None = None,
    ) -> None:
        self.org = org
        self.base_url = base_url
        self.verify = verify
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self._pending: dict[str, tuple[str, Record]] = {}  # record id -> (object, latest record)
        self._cond = threading.Condition()
        self._stop = False
        self._counter = 0
        self.attempts = 0
        self.delivered: list[str] = []  # notification ids acknowledged
        self._http = requests.Session()
        self._http.trust_env = False
        self._post = post or self._http.post
        self._thread = threading.Thread(target=self._run, name="sf-outbound", daemon=True)
        org.listeners.append(self.on_change)
        self._thread.start()

    def on_change(self, obj_name: str, change: str, rec: Record) -> None:
        if obj_name not in DEFAULT_FIELDS or change == "deleted" or not self.org.outbound_url:
            return
        with self._cond:
            self._pending[rec["Id"]] = (obj_name, dict(rec))
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout=5)
        if self.on_change in self.org.listeners:
            self.org.listeners.remove(self.on_change)

    def _run(self) -> None:
        delay = self.initial_delay
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                batch_keys = list(self._pending)[:MAX_PER_MESSAGE]
                batch = {k: self._pending[k] for k in batch_keys}
            notes = []
            for _, (obj_name, rec) in batch.items():
                self._counter += 1
                notes.append((make_id("04l", self._counter), obj_name, rec))
            url = self.org.outbound_url
            ok = False
            if url:
                self.attempts += 1
                try:
                    response = self._post(
                        url,
                        data=envelope(self.org, self.base_url, notes).encode(),
                        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
                        timeout=10,
                        verify=self.verify,
                    )
                    ok = is_ack(response)
                except requests.RequestException:
                    ok = False
            if ok:
                with self._cond:
                    for key, value in batch.items():
                        if self._pending.get(key) is value:  # not changed again meanwhile
                            del self._pending[key]
                self.delivered.extend(n[0] for n in notes)
                delay = self.initial_delay
                continue
            with self._cond:
                self._cond.wait(timeout=delay)
            delay = min(delay * 2, self.max_delay)
            time.sleep(0)
