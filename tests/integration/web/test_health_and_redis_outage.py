"""``/healthz`` reports whether Redis answers; while Redis is unreachable every receiver answers 503
(HubSpot and Salesforce re-send on 5xx / a missing Ack) with a clear error, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from sandbox.salesforce.ids import make_id
from sandbox.salesforce.server import free_port
from worker.crm.hubspot.settings import HubSpotSettings
from worker.web.app import create_app
from worker.web.app import redis_client as fail_fast_redis
from worker.web.settings import WebSettings

from .conftest import serve_in_thread
from .hubspot_requests import SECRET, event, post
from .test_salesforce_outbound_messages import ORG, XML, envelope, fault_of

pytestmark = pytest.mark.integration
CALLOUT = "callout-secret-0123456789abcdef"
WEB = WebSettings(salesforce_org_id=ORG, callout_secret=SecretStr(CALLOUT))
HUBSPOT = HubSpotSettings(app_secret=SecretStr(SECRET))


@pytest.fixture
def live(redis_client: Any) -> Iterator[str]:
    with serve_in_thread(create_app(WEB, redis_client, HUBSPOT), WEB) as base:
        yield base


@pytest.fixture
def outage(caplog: pytest.LogCaptureFixture) -> Iterator[str]:
    dead = fail_fast_redis(f"redis://127.0.0.1:{free_port()}/0")
    with serve_in_thread(create_app(WEB, dead, HUBSPOT), WEB) as base:
        yield base
    assert "Traceback" not in caplog.text


def test_healthz_is_ok_with_redis_and_names_the_receivers(live: str) -> None:
    r = requests.get(live + "/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "receivers": ["hubspot", "salesforce-outbound", "salesforce-callout"]}


def test_healthz_is_503_without_redis(outage: str) -> None:
    r = requests.get(outage + "/healthz")
    assert r.status_code == 503 and r.json()["status"] == "redis unavailable"


def test_every_receiver_answers_503_without_redis(outage: str) -> None:
    hub = post(outage + "/webhooks/hubspot", [event(1, 501)])
    assert hub.status_code == 503 and "Redis" in hub.json()["error"]
    soap = requests.post(outage + "/webhooks/salesforce/outbound", data=envelope(), headers=XML)
    assert soap.status_code == 503 and fault_of(soap)[0] == "soapenv:Server"
    callout = requests.post(
        outage + "/webhooks/salesforce/changes",
        json={"changes": [{"object": "Lead", "id": make_id("00Q", 1)}]},
        headers={"Authorization": f"Bearer {CALLOUT}"},
    )
    assert callout.status_code == 503


def test_unconfigured_receivers_are_404(redis_client: Any) -> None:
    web = WebSettings(callout_secret=SecretStr(CALLOUT))
    with serve_in_thread(create_app(web, redis_client), web) as base:
        assert requests.post(base + "/webhooks/hubspot", data=b"[]").status_code == 404
        assert requests.post(base + "/webhooks/salesforce/outbound", data=b"").status_code == 404
        assert requests.get(base + "/healthz").json()["receivers"] == ["salesforce-callout"]
