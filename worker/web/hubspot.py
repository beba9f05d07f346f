"""``POST /webhooks/hubspot``: verify HubSpot's v3 signature, record changed ids, answer fast.

Signature v3 [A, DOCS-VALID; CL-V3SIG; PY hubspot/utils/signature.py]: base64(HMAC-SHA256(app client
secret, method + full URL + raw body + X-HubSpot-Request-Timestamp)), compared in constant time;
requests whose timestamp is more than 5 minutes old are refused. We also refuse timestamps more than
5 minutes in the future (HubSpot's helper does not; a clock that far ahead is not HubSpot's).
The full URL is the one HubSpot was configured to call: set ``CRMSYNC_HUBSPOT_WEBHOOK_URL`` when a
proxy changes scheme/host; otherwise the URL the request arrived on is used.

Order of checks (nothing is queued unless all pass): the signature and timestamp headers are checked
before a byte of the body is read (the timestamp must be 1-15 ASCII digits within 5 minutes); the body
size and read deadline are enforced by ``worker.web.limits``; then the signature over the raw body; then
the body is decoded as strict UTF-8 JSON (deep nesting is refused, not a ``RecursionError``) and every
event validated (types, HubSpot ids) before anything is written.

Answers: 401 for a missing/bad/stale signature (HubSpot does not retry 401 [A-ish, reference §6.1]),
400 for a malformed body (not retried either), 413 for more than ``max_events`` events, all with a JSON
``error``; 503 when Redis cannot be reached (HubSpot retries); otherwise 200 after the ids are in
Redis, written ``record_chunk`` events per script call. No CRM calls are made here.

HubSpot ids: positive integers up to 2^63-1. Real ids exceed 2^31 (e.g. 65059681032 in the reference
payload, §6.1) and HubSpot's SDKs type them as 64-bit (``Long`` in Java clients); the int64 bound is an
inference [unverified]. Anything else (0, -1, 2^70, strings, floats, paths, dicts) is a 400.

Events carrying our own app as ``sourceId`` are our writes echoing back and are counted as
``ignored_own``, not queued.

Event formats: legacy ``contact.*`` / ``company.*`` / ``deal.*`` and the generic ``object.*`` format,
whose object is given by ``objectTypeId`` (0-1 contact, 0-2 company, 0-3 deal) [A, HubSpot changelog
"Public Beta: Generic Webhook Subscriptions", 2024-08]. Events of any other object type are counted as
``unknown`` in the answer and logged (type and count, never the payload), not dropped silently.
Merge events queue every id they name: ``newObjectId`` (when not null), ``primaryObjectId``, ``objectId``
and every id in ``mergedObjectIds`` [A, changelog "New subscription types for webhooks"]; the sync
finds which survived. ``"newObjectId": null`` means the primary survived.

Deduplication: "eventId … This value is not guaranteed to be unique" [A, developers.hubspot.com
create-generic-webhook-subscriptions, payload fields], and HubSpot retries a delivery with the same
event but a higher ``attemptNumber``. An event is therefore recorded once per hash of
(portalId, subscriptionType, objectTypeId, objectId, propertyName, occurredAt, eventId).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from worker.crm.hubspot.settings import HubSpotSettings
from worker.errors import ConfigError
from worker.state.dirty import Change, DirtySet, Event
from worker.web.limits import RequestLimits
from worker.web.settings import WebSettings
from worker.web.signals import RedisUnavailableError, decode_json, record_chunked

log = logging.getLogger(__name__)

MAX_AGE_MS = 5 * 60 * 1000
MAX_ID = 2**63 - 1
MAX_MERGED_IDS = 100
TIMESTAMP = re.compile(r"[0-9]{1,15}")
OBJECT_TYPES = {"contact": "contacts", "company": "companies", "deal": "deals"}
OBJECT_TYPE_IDS = {"0-1": "contacts", "0-2": "companies", "0-3": "deals"}
OWN_SOURCES = {"INTEGRATION", "API"}
DEDUPE_FIELDS = (
    "portalId",
    "subscriptionType",
    "objectTypeId",
    "objectId",
    "propertyName",
    "occurredAt",
    "eventId",
)
# Optional fields: when present they must have this type (None is allowed where HubSpot sends null).
OPTIONAL_TYPES: dict[str, tuple[type, ...]] = {
    "portalId": (int,),
    "appId": (int,),
    "subscriptionId": (int,),
    "occurredAt": (int,),
    "attemptNumber": (int,),
    "objectTypeId": (str,),
    "propertyName": (str,),
    "propertyValue": (str, type(None)),
    "changeSource": (str,),
    "changeFlag": (str,),
    "sourceId": (str, int),
}


class BadPayloadError(ValueError):
    """The body is not a JSON array of well-formed HubSpot events."""


class TooManyEventsError(BadPayloadError):
    """More events than one request may carry (answered 413)."""


def expected_signature(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    source = method.encode() + url.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def is_hubspot_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def timestamp_error(timestamp: str, now_ms: float) -> str | None:
    """Why a ``X-HubSpot-Request-Timestamp`` is refused, or None when it is fresh."""
    if not TIMESTAMP.fullmatch(timestamp):
        return "request timestamp is not a number of milliseconds"
    if abs(now_ms - int(timestamp)) > MAX_AGE_MS:
        return "request timestamp is older than 5 minutes (or in the future)"
    return None


def _check_event(i: int, ev: Any) -> None:
    if not isinstance(ev, dict):
        raise BadPayloadError(f"event {i} is not an object")
    event_id = ev.get("eventId")
    if not isinstance(event_id, int) or isinstance(event_id, bool) or not 0 <= event_id <= MAX_ID:
        raise BadPayloadError(f"event {i}: eventId missing or not an integer")
    if not is_hubspot_id(ev.get("objectId")):
        raise BadPayloadError(f"event {i}: objectId missing or not a HubSpot id")
    kind = ev.get("subscriptionType")
    if not isinstance(kind, str) or not 0 < len(kind) <= 100:
        raise BadPayloadError(f"event {i}: subscriptionType missing or not a string")
    for name, types in OPTIONAL_TYPES.items():
        if name in ev and (not isinstance(ev[name], types) or isinstance(ev[name], bool)):
            raise BadPayloadError(f"event {i}: {name} has the wrong type")
    if kind.endswith(".merge"):
        if "primaryObjectId" in ev and not is_hubspot_id(ev["primaryObjectId"]):
            raise BadPayloadError(f"event {i}: primaryObjectId is not a HubSpot id")
        if ev.get("newObjectId") is not None and not is_hubspot_id(ev["newObjectId"]):
            raise BadPayloadError(f"event {i}: newObjectId is not a HubSpot id or null")
        merged = ev.get("mergedObjectIds", [])
        if (
            not isinstance(merged, list)
            or len(merged) > MAX_MERGED_IDS
            or not all(is_hubspot_id(m) for m in merged)
        ):
            raise BadPayloadError(f"event {i}: mergedObjectIds is not a list of HubSpot ids")


def parse_events(body: bytes, max_events: int | None = None) -> list[dict[str, Any]]:
    """Decode and validate every event; raises ``BadPayloadError`` before anything can be queued."""
    try:
        doc = decode_json(body)
    except ValueError as exc:
        raise BadPayloadError(str(exc)) from None
    if not isinstance(doc, list):
        raise BadPayloadError("body must be a JSON array of events")
    if max_events is not None and len(doc) > max_events:
        raise TooManyEventsError(f"{len(doc)} events in one request; at most {max_events} are accepted")
    for i, ev in enumerate(doc):
        _check_event(i, ev)
    return doc


def is_own_write(event: dict[str, Any], app_id: int | None) -> bool:
    """True when the change came from our own app (HubSpot sets changeSource/sourceId) [C]."""
    if app_id is None:
        return False
    return str(event.get("sourceId", "")) == str(app_id) and event.get("changeSource") in OWN_SOURCES


def object_type_of(event: dict[str, Any]) -> str | None:
    """contacts / companies / deals for a legacy or generic-format event; None for anything else."""
    kind = str(event["subscriptionType"]).partition(".")[0]
    if kind == "object":
        return OBJECT_TYPE_IDS.get(str(event.get("objectTypeId", "")))
    return OBJECT_TYPES.get(kind)


def event_key(event: dict[str, Any]) -> str:
    """What an event is deduplicated on: its identifying fields (not ``attemptNumber``), hashed."""
    ident = json.dumps([event.get(f) for f in DEDUPE_FIELDS], separators=(",", ":"), default=str)
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def changes_of(event: dict[str, Any]) -> list[Change]:
    """The objects a validated event changed; empty for object types the sync does not follow."""
    object_type = object_type_of(event)
    if object_type is None:
        return []
    action = str(event["subscriptionType"]).partition(".")[2]
    if action == "merge":
        named = [event.get("newObjectId"), event.get("primaryObjectId"), event["objectId"]]
        ids = [i for i in named if i is not None] + list(event.get("mergedObjectIds", []))
        return [Change(object_type, str(i)) for i in dict.fromkeys(ids)]
    return [Change(object_type, str(event["objectId"]))]


def _refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)


def hubspot_route(
    settings: HubSpotSettings,
    dirty: DirtySet,
    web: WebSettings,
    *,
    clock: Callable[[], float] = time.time,
) -> Route:
    """``POST /webhooks/hubspot``; ``settings.app_secret`` must be set."""
    if settings.app_secret is None:
        raise ConfigError("CRMSYNC_HUBSPOT_APP_SECRET is required to verify HubSpot webhooks")
    secret = settings.app_secret.get_secret_value()

    async def receive(request: Request) -> JSONResponse:
        signature = request.headers.get("x-hubspot-signature-v3")
        timestamp = request.headers.get("x-hubspot-request-timestamp")
        if not signature or not timestamp:
            return _refuse(401, "missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
        stale = timestamp_error(timestamp, clock() * 1000)
        if stale:
            return _refuse(401, stale)
        body = await request.body()
        url = settings.webhook_url or str(request.url)
        expected = expected_signature(secret, request.method, url, body, timestamp)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return _refuse(401, "signature does not match")
        try:
            events = parse_events(body, web.max_events)
        except TooManyEventsError as exc:
            return _refuse(413, str(exc))
        except BadPayloadError as exc:
            return _refuse(400, str(exc))
        own = 0
        unknown: dict[str, int] = {}
        batch: list[Event] = []
        for e in events:
            if is_own_write(e, settings.app_id):
                own += 1
                continue
            changes = changes_of(e)
            if not changes:
                label = str(e["subscriptionType"])
                if label.startswith("object."):
                    label += f" objectTypeId={e.get('objectTypeId')}"
                label = ascii(label)[1:-1]  # sender-chosen text: no control characters in logs
                unknown[label] = unknown.get(label, 0) + 1
                continue
            batch.append(Event(event_key(e), tuple(changes)))
        if unknown:
            log.warning(
                "HubSpot webhook: %d events of types not followed: %s", sum(unknown.values()), unknown
            )
        try:
            added = await record_chunked(dirty, batch, web.record_chunk)
        except RedisUnavailableError as exc:
            return _refuse(503, str(exc))
        return JSONResponse(
            {
                "received": len(events),
                "queued": added,
                "duplicates": sum(len(ev.changes) for ev in batch) - added,
                "ignored_own": own,
                "unknown": sum(unknown.values()),
                "unknown_types": unknown,
            }
        )

    return Route("/webhooks/hubspot", receive, methods=["POST"])


def create_app(
    settings: HubSpotSettings,
    dirty: DirtySet,
    *,
    clock: Callable[[], float] = time.time,
    web: WebSettings | None = None,
) -> Starlette:
    """The HubSpot receiver alone, behind the request limits (``worker.web.app`` mounts everything)."""
    web = web or WebSettings()
    app = Starlette(routes=[hubspot_route(settings, dirty, web, clock=clock)])
    app.add_middleware(RequestLimits, max_body_bytes=web.max_body_bytes, body_timeout_s=web.body_timeout_s)
    return app
