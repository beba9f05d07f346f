"""No configured secret reaches a log line, an answer or an exception, whatever is sent: right and
wrong signatures and bearer secrets, malformed bodies, Redis outages. Logs captured at DEBUG for every
logger (uvicorn's access and error logs included) and scanned for each secret."""

from __future__ import annotations

import logging
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
from .hubspot_requests import event, post
from .test_salesforce_outbound_messages import ORG, XML, envelope

pytestmark = pytest.mark.integration
APP_SECRET = "hubspot-app-secret-7d1f0c"
CALLOUT = "callout-secret-5b9e2a41c8d7f3061"
SESSION = "00D5g0000000001!AQ4AQFbZsessiontokenvalue"
WEB = WebSettings(salesforce_org_id=ORG, callout_secret=SecretStr(CALLOUT))
HUBSPOT = HubSpotSettings(app_secret=SecretStr(APP_SECRET), app_id=1)


def _exercise(base: str) -> list[requests.Response]:
    hook = base + "/webhooks/hubspot"
    changes = base + "/webhooks/salesforce/changes"
    lead = {"changes": [{"object": "Lead", "id": make_id("00Q", 1)}]}
    # "Send Session ID" puts a live Salesforce session in every Outbound Message
    with_session = envelope().replace(
        b'<SessionId xsi:nil="true"/>', f"<SessionId>{SESSION}</SessionId>".encode()
    )
    assert SESSION.encode() in with_session
    wrong_org = with_session.replace(ORG.encode(), make_id("00D", 9).encode())
    return [
        post(hook, [event(1, 501)], secret=APP_SECRET),
        post(hook, [event(2, 502)], secret=APP_SECRET[:-1]),
        post(hook, None, raw=b"[" * 10_000, secret=APP_SECRET),
        post(hook, [{"eventId": APP_SECRET, "objectId": 1, "subscriptionType": "x"}], secret=APP_SECRET),
        requests.post(changes, json=lead, headers={"Authorization": f"Bearer {CALLOUT}"}),
        requests.post(changes, json=lead, headers={"Authorization": f"Bearer {CALLOUT[:-1]}"}),
        requests.post(
            changes,
            json={"changes": [{"object": "Lead", "id": CALLOUT}]},
            headers={"Authorization": f"Bearer {CALLOUT}"},
        ),
        requests.post(base + "/webhooks/salesforce/outbound", data=with_session, headers=XML),
        requests.post(base + "/webhooks/salesforce/outbound", data=with_session[:-30], headers=XML),
        requests.post(base + "/webhooks/salesforce/outbound", data=wrong_org, headers=XML),
        requests.get(base + "/healthz"),
    ]


@pytest.mark.parametrize("redis_up", [True, False], ids=["redis-up", "redis-down"])
def test_no_secret_in_logs_or_answers(
    redis_client: Any, caplog: pytest.LogCaptureFixture, redis_up: bool
) -> None:
    caplog.set_level(logging.DEBUG)
    client = redis_client if redis_up else fail_fast_redis(f"redis://127.0.0.1:{free_port()}/0")
    with serve_in_thread(create_app(WEB, client, HUBSPOT), WEB) as base:
        answers = _exercise(base)
    assert answers[0].status_code == (200 if redis_up else 503)
    assert answers[1].status_code == 401 and answers[5].status_code == 401
    text = caplog.text + "\n".join(r.text + str(r.headers) for r in answers)
    assert len(caplog.records) > 0
    for secret in (APP_SECRET, CALLOUT, SESSION):
        assert secret not in text
        assert secret[:-1] not in text  # nor the near-misses we sent


def test_settings_never_print_their_secrets() -> None:
    shown = repr(WEB) + str(WEB) + repr(HUBSPOT) + str(WEB.model_dump())
    assert CALLOUT not in shown and APP_SECRET not in shown
