"""HubSpot signs v3 over the request URI with a documented set of percent-escapes decoded (``%3A``
``%2F`` ``%3F`` ``%40`` ``%21`` ``%24`` ``%27`` ``%28`` ``%29`` ``%2A`` ``%2C`` ``%3B``, any case) and
everything else as sent: the receiver must verify over that same form, for a webhook URL with a query
string and encoded characters, and refuse a signature made over the raw URI."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from sandbox.hubspot.models import DEFAULT_APP_ID
from sandbox.hubspot.webhooks import sign_v3, v3_signed_uri
from worker.crm.hubspot.settings import HubSpotSettings
from worker.state.dirty import DirtySet
from worker.web.hubspot import create_app, expected_signature

from .conftest import serve_in_thread
from .hubspot_requests import SECRET, event

pytestmark = pytest.mark.integration

QUERY = "?portal=12345678&owner=ops%40example.com&path=%2Fcrm%2Fin&tag=a%2Cb%3Bc&q=%2520x&n=%7Bid%7D"


@pytest.fixture
def dirty(redis_client: Any) -> DirtySet:
    return DirtySet(redis_client)


@pytest.fixture
def receiver(dirty: DirtySet) -> Iterator[str]:
    settings = HubSpotSettings(app_secret=SecretStr(SECRET), app_id=DEFAULT_APP_ID)
    with serve_in_thread(create_app(settings, dirty)) as base:
        yield base + "/webhooks/hubspot" + QUERY


def send(url: str, signature: str, body: bytes, stamp: str) -> requests.Response:
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": stamp,
    }
    return requests.post(url, data=body, headers=headers)


def raw_signature(url: str, body: bytes, stamp: str) -> str:
    source = b"POST" + url.encode() + body + stamp.encode()
    return base64.b64encode(hmac.new(SECRET.encode(), source, hashlib.sha256).digest()).decode()


def test_a_signature_over_the_decoded_uri_is_accepted(receiver: str, dirty: DirtySet) -> None:
    body, stamp = json.dumps([event(1, 501)]).encode(), str(int(time.time() * 1000))
    r = send(receiver, sign_v3(SECRET, "POST", receiver, body, stamp), body, stamp)
    assert r.status_code == 200, r.text
    assert dirty.members("contacts") == {"501"}


def test_a_signature_over_the_raw_uri_is_refused(receiver: str, dirty: DirtySet) -> None:
    body, stamp = json.dumps([event(1, 501)]).encode(), str(int(time.time() * 1000))
    assert v3_signed_uri(receiver) != receiver  # the URL carries escapes HubSpot decodes
    r = send(receiver, raw_signature(receiver, body, stamp), body, stamp)
    assert r.status_code == 401 and dirty.size("contacts") == 0


def test_the_receiver_decodes_exactly_the_documented_escapes_in_any_case() -> None:
    sent = "https://h.example.com/in%3aput?a=%40&b=%2f&c=%20&d=%25&e=%2B&f=%3D&g=%26&h=%21%24%27%28%29%2A"
    body, stamp = b"[]", "1700000000000"
    assert expected_signature(SECRET, "POST", sent, body, stamp) == sign_v3(SECRET, "POST", sent, body, stamp)
    decoded = "https://h.example.com/in:put?a=@&b=/&c=%20&d=%25&e=%2B&f=%3D&g=%26&h=!$'()*"
    assert expected_signature(SECRET, "POST", sent, body, stamp) == raw_signature(decoded, body, stamp)
