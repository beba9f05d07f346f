"""Signed HubSpot webhook requests, as HubSpot sends them (v3 signature over method, URL, body, time)."""

from __future__ import annotations

import json
import time
from typing import Any

import requests

from sandbox.hubspot.models import DEFAULT_APP_ID, DEFAULT_CLIENT_SECRET
from sandbox.hubspot.webhooks import sign_v3

SECRET = DEFAULT_CLIENT_SECRET


def event(
    event_id: int, object_id: int, kind: str = "contact.propertyChange", **extra: Any
) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "subscriptionId": 1,
        "portalId": 12345678,
        "appId": DEFAULT_APP_ID,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": kind,
        "attemptNumber": 0,
        "objectId": object_id,
        "changeSource": "CRM_UI",
        "sourceId": "userId:1",
        **extra,
    }


def post(
    url: str,
    events: Any,
    *,
    secret: str = SECRET,
    ts: int | None = None,
    raw: bytes | None = None,
    client: requests.Session | None = None,
) -> Any:
    body = raw if raw is not None else json.dumps(events).encode()
    stamp = str(ts if ts is not None else int(time.time() * 1000))
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": sign_v3(secret, "POST", url, body, stamp),
        "X-HubSpot-Request-Timestamp": stamp,
    }
    return (client or requests).post(url, data=body, headers=headers)
