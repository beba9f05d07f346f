"""Every API route answers malformed input with a 4xx, never a 500 (issue 12 item 9), and keeps working."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from sandbox.hubspot.models import DEFAULT_APP_ID, DEFAULT_DEVELOPER_KEY
from sandbox.hubspot.routes import ROUTES
from sandbox.hubspot.server import HubSpotSandbox

pytestmark = pytest.mark.integration

PARAMS = {
    "objectType": "contacts",
    "fromObjectType": "contacts",
    "toObjectType": "companies",
    "objectId": "1001",
    "toObjectId": "1002",
    "propertyName": "firstname",
    "appId": str(DEFAULT_APP_ID),
    "subscriptionId": "1001",
    "token": "nope",
}
BODIES: list[Any] = [
    b"{not json",
    b"\xff\xfe\x00",
    [],
    "text",
    {"inputs": "x"},
    {"inputs": [1, "a", None, [], {"id": {"a": 1}, "properties": [1]}]},
    {"inputs": [{"from": {"id": "x"}, "to": [{"id": None}], "types": [{"associationTypeId": "many"}]}]},
    {"properties": "x", "associations": [{"to": {"id": []}, "types": "t"}]},
    {"properties": {"email": {"nested": True}, "firstname": [1, 2]}},
    {"filterGroups": [{"filters": [{"propertyName": 5, "operator": 7}]}], "limit": "x", "sorts": [5]},
    {"primaryObjectId": {"a": 1}, "objectIdToMerge": [2]},
    {"targetUrl": 5, "throttling": "x", "eventType": [1], "active": "maybe"},
    {"options": "x", "label": 5},
]


def _url(base: str, path: str) -> str:
    return base + re.sub(r"{(\w+)}", lambda m: PARAMS[m.group(1)], path)


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _h, _k in ROUTES if m != "GET"])
def test_no_route_answers_500_to_malformed_bodies(
    sandbox: HubSpotSandbox, hs: Any, method: str, path: str
) -> None:
    hs.crm.contacts.basic_api.create({"properties": {"email": "a@example.com"}})
    hs.crm.companies.basic_api.create({"properties": {"name": "Acme"}})
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    url = _url(sandbox.base_url, path)
    with httpx.Client(headers=headers, params={"hapikey": DEFAULT_DEVELOPER_KEY}) as http:
        for doc in BODIES:
            kwargs: dict[str, Any] = {"content": doc} if isinstance(doc, bytes) else {"json": doc}
            answer = http.request(method, url, **kwargs)
            assert answer.status_code < 500, (method, path, doc, answer.text)
            if answer.status_code >= 400:
                assert isinstance(answer.json(), dict)
    # and the portal still serves ordinary calls
    assert hs.crm.contacts.basic_api.create({"properties": {"email": "after@example.com"}}).id


def test_malformed_query_parameters_are_4xx(sandbox: HubSpotSandbox) -> None:
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    for query in ("limit=abc", "limit=0", "limit=100000", "after=%00", "properties=%ff", "archived=maybe"):
        answer = httpx.get(f"{sandbox.base_url}/crm/v3/objects/contacts?{query}", headers=headers)
        assert answer.status_code < 500, (query, answer.text)
