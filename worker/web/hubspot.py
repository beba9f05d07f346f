"""``POST /webhooks/hubspot``: verify HubSpot's v3 signature, record changed ids, answer fast.

Signature v3 [A, DOCS-VALID; CL-V3SIG; PY hubspot/utils/signature.py]: base64(HMAC-SHA256(app client
secret, method + full URL + raw body + X-HubSpot-Request-Timestamp)), compared in constant time;
requests whose timestamp is more than 5 minutes old are refused. We also refuse timestamps more than
5 minutes in the future (HubSpot's helper does not; a clock that far ahead is not HubSpot's).
The full URL is the one HubSpot was configured to call: set ``CRMSYNC_HUBSPOT_WEBHOOK_URL`` when a
proxy changes scheme/host; otherwise the URL the request arrived on is used.

Answers: 401 for a missing/bad/stale signature (HubSpot does not retry 401 [A-ish, reference §6.1]),
400 for a malformed body (not retried either), both with a JSON ``error``; otherwise 200 after the
ids are in Redis. No CRM calls are made here. Events carrying our own app as ``sourceId`` are our
writes echoing back and are counted as ``ignored_own``, not queued.

Event formats: legacy ``contact.*`` / ``company.*`` / ``deal.*`` and the generic ``object.*`` format,
whose object is given by ``objectTypeId`` (0-1 contact, 0-2 company, 0-3 deal) [A, HubSpot changelog
"Public Beta: Generic Webhook Subscriptions", 2024-08]. Events of any other object type are counted as
``unknown`` in the answer and logged (type and count, never the payload), not dropped silently.
Merge events queue the survivor (``newObjectId``, else ``primaryObjectId``) and every id in
``mergedObjectIds`` [A, changelog "New subscription types for webhooks"].

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
import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from worker.crm.hubspot.settings import HubSpotSettings
from worker.errors import ConfigError
from worker.state.dirty import Change, DirtySet, Event

log = logging.getLogger(__name__)

MAX_AGE_MS = 5 * 60 * 1000
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


class BadPayloadError(ValueError):
    """The body is not a JSON array of HubSpot events."""


def expected_signature(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    source = method.encode() + url.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def parse_events(body: bytes) -> list[dict[str, Any]]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadPayloadError(f"body is not JSON: {exc}") from None
    if not isinstance(doc, list):
        raise BadPayloadError("body must be a JSON array of events")
    for i, ev in enumerate(doc):
        if not isinstance(ev, dict):
            raise BadPayloadError(f"event {i} is not an object")
        for name, kind in (("eventId", int), ("objectId", int), ("subscriptionType", str)):
            if not isinstance(ev.get(name), kind) or isinstance(ev.get(name), bool):
                raise BadPayloadError(f"event {i}: {name} missing or not {kind.__name__}")
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


def _ids(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, int | str) and not isinstance(v, bool)]
    return []


def changes_of(event: dict[str, Any]) -> list[Change]:
    """The objects an event changed; empty for object types the sync does not follow."""
    object_type = object_type_of(event)
    if object_type is None:
        return []
    action = str(event["subscriptionType"]).partition(".")[2]
    if action == "merge":
        survivor = event.get("newObjectId", event.get("primaryObjectId", event["objectId"]))
        ids = [str(survivor), *_ids(event.get("mergedObjectIds"))]
        return [Change(object_type, i) for i in dict.fromkeys(ids)]
    return [Change(object_type, str(event["objectId"]))]


def create_app(
    settings: HubSpotSettings,
    dirty: DirtySet,
    *,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The webhook receiver app; ``settings.app_secret`` must be set."""
    if settings.app_secret is None:
        raise ConfigError("CRMSYNC_HUBSPOT_APP_SECRET is required to verify HubSpot webhooks")
    secret = settings.app_secret.get_secret_value()

    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        signature = request.headers.get("x-hubspot-signature-v3")
        timestamp = request.headers.get("x-hubspot-request-timestamp")
        if not signature or not timestamp:
            return JSONResponse(
                {"error": "missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp"}, 401
            )
        if not timestamp.isdigit() or abs(clock() * 1000 - int(timestamp)) > MAX_AGE_MS:
            return JSONResponse(
                {"error": "request timestamp is missing, malformed or older than 5 minutes"}, 401
            )
        url = settings.webhook_url or str(request.url)
        expected = expected_signature(secret, request.method, url, body, timestamp)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return JSONResponse({"error": "signature does not match"}, 401)
        try:
            events = parse_events(body)
        except BadPayloadError as exc:
            return JSONResponse({"error": str(exc)}, 400)
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
                unknown[label] = unknown.get(label, 0) + 1
                continue
            batch.append(Event(event_key(e), tuple(changes)))
        if unknown:
            log.warning(
                "HubSpot webhook: %d events of types not followed: %s", sum(unknown.values()), unknown
            )
        added = await run_in_threadpool(dirty.record, batch)
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

    return Starlette(routes=[Route("/webhooks/hubspot", receive, methods=["POST"])])
