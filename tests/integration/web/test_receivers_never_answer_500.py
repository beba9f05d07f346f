"""Hypothesis through real HTTP: whatever a correctly signed (or authenticated) body holds, the
receivers answer 200 or a 4xx — never a 5xx — and a 200 queues only well-formed ids."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from sandbox.salesforce.ids import make_id
from tests.fuzzing import fuzz
from worker.crm.hubspot.settings import HubSpotSettings
from worker.web.app import create_app
from worker.web.settings import WebSettings

from .conftest import serve_in_thread
from .hubspot_requests import SECRET, post

pytestmark = pytest.mark.integration
CALLOUT = "callout-secret-for-fuzzing-0123456"
ORG = make_id("00D", 1)
FUZZ = fuzz(100)

leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=12)
)
json_values = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=12,
)
ids = st.one_of(st.integers(min_value=-3, max_value=2**64), leaf)
hubspot_event = st.fixed_dictionaries(
    {
        "eventId": st.one_of(st.integers(min_value=0, max_value=2**40), leaf),
        "objectId": ids,
        "subscriptionType": st.sampled_from(
            ["contact.propertyChange", "contact.merge", "object.merge", "company.creation", "ticket.x"]
        ),
    },
    optional={
        "objectTypeId": st.sampled_from(["0-1", "0-2", "0-3", "2-99"]) | leaf,
        "primaryObjectId": ids,
        "newObjectId": ids,
        "mergedObjectIds": st.lists(ids, max_size=3) | leaf,
        "sourceId": leaf,
        "changeSource": leaf,
        "propertyName": leaf,
        "occurredAt": leaf,
    },
)


@pytest.fixture(scope="module")
def store(module_redis: redis.Redis) -> redis.Redis:
    return module_redis


@pytest.fixture(scope="module")
def base(store: redis.Redis) -> Iterator[str]:
    web = WebSettings(salesforce_org_id=ORG, callout_secret=SecretStr(CALLOUT))
    app = create_app(web, store, HubSpotSettings(app_secret=SecretStr(SECRET), app_id=1))
    with serve_in_thread(app, web) as url:
        yield url


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as client:
        yield client


@FUZZ
@given(doc=st.one_of(st.lists(hubspot_event, max_size=4), json_values))
def test_signed_hubspot_bodies(base: str, http: requests.Session, store: redis.Redis, doc: Any) -> None:
    r = post(base + "/webhooks/hubspot", doc, client=http)
    assert r.status_code in {200, 400, 413}, r.text
    if r.status_code == 200:
        for key in store.scan_iter("crmsync:dirty:hubspot:*"):
            for member in store.smembers(key):
                assert member.isdigit() and 1 <= int(member) < 2**63, member


@FUZZ
@given(body=st.binary(max_size=200))
def test_signed_hubspot_bytes(base: str, http: requests.Session, body: bytes) -> None:
    assert post(base + "/webhooks/hubspot", None, raw=body, client=http).status_code in {200, 400}


@FUZZ
@given(doc=json_values)
def test_authenticated_callout_bodies(base: str, http: requests.Session, doc: Any) -> None:
    r = http.post(
        base + "/webhooks/salesforce/changes",
        data=json.dumps({"changes": doc}).encode(),
        headers={"Authorization": f"Bearer {CALLOUT}"},
    )
    assert r.status_code in {200, 400, 413}, r.text


@FUZZ
@given(body=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_outbound_bodies(base: str, http: requests.Session, body: bytes) -> None:
    r = http.post(base + "/webhooks/salesforce/outbound", data=body, headers={"Content-Type": "text/xml"})
    assert r.status_code in {200, 400, 403}, r.text
