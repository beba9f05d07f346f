"""Salesforce change signals: Outbound Messages (SOAP) and JSON callouts from Flow/Apex.

``POST /webhooks/salesforce/outbound`` — an Outbound Message. The envelope is the SOAP 1.1
``notifications`` element in ``http://soap.sforce.com/2005/09/outbound`` holding OrganizationId,
ActionId, SessionId, EnterpriseUrl, PartnerUrl and 1-100 ``Notification {Id, sObject}``; ids are the
18-character case-safe form (the WSDL's ``ent:ID``: ``[a-zA-Z0-9]{18}``) [D: developer.salesforce.com
sforce_api_om_outboundmessaging_wsdl.htm; the generated workflowOutboundMessage.wsdl]. The answer
Salesforce needs is the ``notificationsResponse`` element with ``<Ack>true</Ack>`` (xsd:boolean; one
ack covers every notification); anything else and it re-sends, with back-off, for 24 hours [same
page; reference §5a]. A message "can sometimes be delivered more than one time" and listeners should
"check the notification IDs" [D: sforce_api_om_outboundmessaging_notifications.htm]: a notification is
recorded once per (org, notification id, record id). A SessionId (sent when "Send Session ID" is set)
is a live session: it is never logged nor echoed. Parsing uses defusedxml with DTDs forbidden (SOAP
1.1 §3 forbids a DTD in a message), so entity expansion ("billion laughs") and external entities
never run.

Answers: the Ack (200) once every notification's id is recorded; a SOAP ``Fault`` with faultcode
``soapenv:Client`` and nothing queued for a malformed envelope or id (400), the wrong organisation
(403) or a body that is not ``text/xml`` (415, checked before the body is read); ``soapenv:Server``
with 503 when Redis is down (Salesforce re-sends). SOAP 1.1 §6.2 / WS-I BP R1126 would send faults with
HTTP 500; we answer 4xx because the project promises 4xx for bad input and keeps 5xx for our own
faults, and Salesforce treats any answer without the Ack the same way (re-send) [inference].

The OrganizationId check is a sanity check, not authentication (an org id is not a secret): the
endpoint only marks ids dirty, and the sync reads the records' values from Salesforce itself. Restrict
who can reach it at the proxy (Salesforce's IP ranges, or its client certificate) where that matters.

``POST /webhooks/salesforce/changes`` — a JSON callout from a Flow HTTP Callout or Apex, authenticated
by ``Authorization: Bearer <CRMSYNC_WEB_CALLOUT_SECRET>`` (compared in constant time, before the body
is read). Body::

    {"changes": [{"object": "Lead", "id": "00Q5g000000001AAA", "eventId": "2026-11-30T15:02:28.000Z"}]}

``object`` is one of ``SALESFORCE_OBJECTS``; ``id`` a 15- or 18-character id of that object (stored in
the 18-character form); ``eventId`` optional (at most 255 characters): a repeat of the same
(object, id, eventId) is recorded once — send the record's SystemModstamp. Answers 200
``{"received", "queued", "duplicates"}``, 401 without the secret, 400 for anything malformed (nothing
queued), 413 for more than ``max_events`` changes, 503 when Redis is down.

Both record ``Change(object_type=<sObject name>, object_id=<18-char id>)`` in the ``salesforce``
dirty set.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import uuid
from dataclasses import dataclass
from html import escape
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from worker.state.dirty import Change, DirtySet, Event
from worker.web.settings import WebSettings
from worker.web.signals import RedisUnavailableError, decode_json, record_chunked

log = logging.getLogger(__name__)

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100
# sObjects whose changes the sync follows, with their key prefixes (the first 3 id characters).
SALESFORCE_OBJECTS = {
    "Lead": "00Q",
    "Contact": "003",
    "Account": "001",
    "Opportunity": "006",
    "Task": "00T",
    "Event": "00U",
}
_ID = re.compile(r"[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?")
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body>'
    f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)


class BadMessageError(ValueError):
    """An envelope, callout body or id that cannot be accepted; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


def case_safe_suffix(id15: str) -> str:
    """The 3 characters that make a 15-character id case-insensitively unique (``CASESAFEID``)."""
    out = []
    for start in (0, 5, 10):
        bits = sum(1 << k for k, ch in enumerate(id15[start : start + 5]) if "A" <= ch <= "Z")
        out.append(_SUFFIX[bits])
    return "".join(out)


def salesforce_id18(value: Any, object_name: str) -> str:
    """The 18-character form of a well-formed id of ``object_name``; raises ``BadMessageError``."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise BadMessageError(f"{object_name} id is not a 15- or 18-character Salesforce id")
    id18 = value[:15] + case_safe_suffix(value[:15])
    if len(value) == 18 and value[15:] != id18[15:]:
        raise BadMessageError(f"{object_name} id {value} has a wrong case-safe suffix")
    if not value.startswith(SALESFORCE_OBJECTS[object_name]):
        raise BadMessageError(f"id {value} is not a {object_name} id")
    return id18


def _key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class OutboundMessage:
    org_id: str
    events: list[Event]
    ignored: dict[str, int]  # sObject types not followed -> count


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(parent: Element, name: str) -> Element:
    found = parent.find(f"{{{OUTBOUND_NS}}}{name}")
    if found is None:
        raise BadMessageError(f"{_local(parent.tag)} has no {name} element")
    return found


def parse_notifications(body: bytes) -> OutboundMessage:
    """Parse and validate a whole ``notifications`` envelope; raises ``BadMessageError``."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise BadMessageError("DTDs and entities are not accepted in a SOAP message") from None
    except ParseError as exc:
        raise BadMessageError(f"body is not well-formed XML: {exc}") from None
    except (LookupError, ValueError) as exc:  # an XML declaration naming an unknown or multi-byte encoding
        raise BadMessageError(f"body's XML encoding is not supported: {exc}") from None
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise BadMessageError("root element is not a SOAP 1.1 Envelope")
    soap_body = root.find(f"{{{SOAP_NS}}}Body")
    if soap_body is None:
        raise BadMessageError("Envelope has no Body")
    notes = soap_body.find(f"{{{OUTBOUND_NS}}}notifications")
    if notes is None:
        raise BadMessageError("Body holds no notifications element")
    org_id = (_child(notes, "OrganizationId").text or "").strip()
    if not re.fullmatch(r"00D[a-zA-Z0-9]{15}", org_id):
        raise BadMessageError("OrganizationId is not an 18-character org id")
    items = notes.findall(f"{{{OUTBOUND_NS}}}Notification")
    if not 1 <= len(items) <= MAX_NOTIFICATIONS:
        raise BadMessageError(f"a message holds 1 to {MAX_NOTIFICATIONS} Notification elements")
    events: list[Event] = []
    ignored: dict[str, int] = {}
    for item in items:
        note_id = (_child(item, "Id").text or "").strip()
        if not re.fullmatch(r"[a-zA-Z0-9]{18}", note_id):
            raise BadMessageError("Notification Id is not an 18-character id")
        sobject = _child(item, "sObject")
        object_name = sobject.get(f"{{{XSI_NS}}}type", "").rpartition(":")[2]
        if not object_name:
            raise BadMessageError("sObject has no xsi:type")
        record_id = next((c.text for c in sobject if _local(c.tag) == "Id"), None)
        if object_name not in SALESFORCE_OBJECTS:
            name = ascii(object_name[:80])[1:-1]  # sender-chosen text: no control characters in logs
            ignored[name] = ignored.get(name, 0) + 1
            continue
        id18 = salesforce_id18((record_id or "").strip(), object_name)
        key = _key("outbound", org_id[:15], note_id, id18)
        events.append(Event(key, (Change(object_name, id18),)))
    return OutboundMessage(org_id, events, ignored)


def _soap(status: int, body: str) -> Response:
    return Response(body, status, media_type="text/xml; charset=utf-8")


def soap_fault(status: int, message: str, code: str = "Client") -> Response:
    return _soap(
        status,
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>soapenv:{code}</faultcode><faultstring>{escape(message)}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>",
    )


def outbound_route(org_id: str, dirty: DirtySet, web: WebSettings) -> Route:
    """``POST /webhooks/salesforce/outbound`` for the org ``org_id`` (15 or 18 characters)."""

    async def receive(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type != "text/xml":
            return soap_fault(415, "Content-Type must be text/xml (SOAP 1.1)")
        body = await request.body()
        try:
            message = parse_notifications(body)
        except BadMessageError as exc:
            return soap_fault(exc.status, str(exc))
        if message.org_id[:15] != org_id[:15]:
            return soap_fault(403, "OrganizationId is not the org this endpoint serves")
        if message.ignored:
            log.warning("Salesforce outbound message: sObject types not followed: %s", message.ignored)
        try:
            await record_chunked(dirty, message.events, web.record_chunk)
        except RedisUnavailableError as exc:
            return soap_fault(503, str(exc), code="Server")
        return _soap(200, ACK)

    return Route("/webhooks/salesforce/outbound", receive, methods=["POST"])


def parse_callout(body: bytes, max_changes: int) -> list[Event]:
    """Validate a whole callout body (shape in the module doc); raises ``BadMessageError``."""
    try:
        doc = decode_json(body)
    except ValueError as exc:
        raise BadMessageError(str(exc)) from None
    changes = doc.get("changes") if isinstance(doc, dict) else None
    if not isinstance(changes, list) or not changes:
        raise BadMessageError('body must be {"changes": [{"object": ..., "id": ...}, ...]}')
    if len(changes) > max_changes:
        raise BadMessageError(f"{len(changes)} changes in one request; at most {max_changes}", 413)
    events = []
    for i, change in enumerate(changes):
        if not isinstance(change, dict) or set(change) - {"object", "id", "eventId"}:
            raise BadMessageError(f"change {i} must be an object with object, id and optional eventId")
        object_name = change.get("object")
        if not isinstance(object_name, str) or object_name not in SALESFORCE_OBJECTS:
            raise BadMessageError(f"change {i}: object must be one of {', '.join(SALESFORCE_OBJECTS)}")
        event_id = change.get("eventId")
        if event_id is not None and (not isinstance(event_id, str) or not 0 < len(event_id) <= 255):
            raise BadMessageError(f"change {i}: eventId must be a string of 1 to 255 characters")
        try:
            id18 = salesforce_id18(change.get("id"), object_name)
        except BadMessageError as exc:
            raise BadMessageError(f"change {i}: {exc}") from None
        key = _key("callout", object_name, id18, event_id or uuid.uuid4().hex)
        events.append(Event(key, (Change(object_name, id18),)))
    return events


def callout_route(secret: str, dirty: DirtySet, web: WebSettings) -> Route:
    """``POST /webhooks/salesforce/changes``, authenticated by the shared ``secret``."""
    expected = f"Bearer {secret}".encode()

    async def receive(request: Request) -> JSONResponse:
        given = request.headers.get("authorization", "").encode("latin-1")
        if not hmac.compare_digest(given, expected):
            return JSONResponse({"error": "missing or wrong Authorization bearer secret"}, 401)
        body = await request.body()
        try:
            events = parse_callout(body, web.max_events)
        except BadMessageError as exc:
            return JSONResponse({"error": str(exc)}, exc.status)
        try:
            added = await record_chunked(dirty, events, web.record_chunk)
        except RedisUnavailableError as exc:
            return JSONResponse({"error": str(exc)}, 503)
        return JSONResponse({"received": len(events), "queued": added, "duplicates": len(events) - added})

    return Route("/webhooks/salesforce/changes", receive, methods=["POST"])
