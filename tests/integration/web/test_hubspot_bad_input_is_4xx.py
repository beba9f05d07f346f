"""Issue 12 items 4 and 5: anything malformed sent to the HubSpot receiver is a 4xx with a clear
error, never a 500 or a traceback, and nothing of the request is queued; merge events keep the
survivor; ids are HubSpot ids before anything is queued. Over a real uvicorn server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests
from pydantic import SecretStr

from sandbox.hubspot.models import DEFAULT_APP_ID
from sandbox.hubspot.webhooks import sign_v3
from worker.crm.hubspot.settings import HubSpotSettings
from worker.state.dirty import DirtySet
from worker.web.hubspot import create_app

from .conftest import serve_in_thread
from .hubspot_requests import SECRET, event, post

pytestmark = pytest.mark.integration


@pytest.fixture
def dirty(redis_client: Any) -> DirtySet:
    return DirtySet(redis_client)


@pytest.fixture(scope="module")
def server(redis_url: str) -> Iterator[str]:
    """One receiver for the module (each test still starts from a flushed database)."""
    client = redis.Redis.from_url(redis_url)
    settings = HubSpotSettings(app_secret=SecretStr(SECRET), app_id=DEFAULT_APP_ID)
    with serve_in_thread(create_app(settings, DirtySet(client))) as base:
        yield base + "/webhooks/hubspot"
    client.close()


@pytest.fixture
def receiver(server: str, dirty: DirtySet, caplog: pytest.LogCaptureFixture) -> Iterator[str]:
    caplog.set_level("DEBUG")
    yield server
    assert "Traceback" not in caplog.text and "Exception in ASGI application" not in caplog.text


def _headers(url: str, body: bytes, stamp: str | bytes) -> dict[str, Any]:
    text = stamp.decode("latin-1") if isinstance(stamp, bytes) else stamp
    return {
        "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", url, body, text),
        "X-HubSpot-Request-Timestamp": stamp,
    }


@pytest.mark.parametrize(
    "stamp",
    [b"\xb2", "9" * 5000, "1" * 16, "-1", "17 00", "\uff11\uff17" + "\uff10" * 11],
    ids=["superscript-two", "5000-digits", "16-digits", "negative", "inner-space", "fullwidth-digits"],
)
def test_malformed_timestamp_header_is_401_not_500(receiver: str, dirty: DirtySet, stamp: Any) -> None:
    body = json.dumps([event(1, 501)]).encode()
    if isinstance(stamp, str) and not stamp.isascii():
        stamp = stamp.encode()  # send the UTF-8 bytes raw, not a client-chosen encoding
    r = requests.post(receiver, data=body, headers=_headers(receiver, body, stamp))
    assert r.status_code == 401, r.text
    assert "timestamp" in r.json()["error"]
    assert dirty.size("contacts") == 0


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_nested(100_000), "nested too deeply"),
        (b"[" + _nested(50_000) + b"]", "nested too deeply"),
        (
            '[{"eventId": 1, "objectId": 501, "subscriptionType": "contact.creation", "x": "é"}]'.encode(
                "latin-1"
            ),
            "not UTF-8",
        ),
        (b"\xff\xfe[\x00]\x00", "not UTF-8"),
        ('[{"eventId":1}]'.encode("utf-16"), "not UTF-8"),
        (b"", "not JSON"),
        (b"[1]", "event 0 is not an object"),
        (b'{"eventId": 1}', "JSON array"),
        (b'[{"eventId": "1", "objectId": 501, "subscriptionType": "contact.creation"}]', "eventId"),
        (b'[{"eventId": 1.5, "objectId": 501, "subscriptionType": "contact.creation"}]', "eventId"),
        (b'[{"eventId": true, "objectId": 501, "subscriptionType": "contact.creation"}]', "eventId"),
        (b'[{"eventId": 1, "objectId": 501, "subscriptionType": 7}]', "subscriptionType"),
        (
            b'[{"eventId": 1, "objectId": 501, "subscriptionType": "contact.creation", "portalId": "x"}]',
            "portalId",
        ),
        (
            b'[{"eventId": 1, "objectId": 501, "subscriptionType": "object.creation", "objectTypeId": 1}]',
            "objectTypeId",
        ),
        (
            b'[{"eventId": 1, "objectId": 501, "subscriptionType": "contact.creation", "occurredAt": []}]',
            "occurredAt",
        ),
        (b'[{"eventId": 1, "objectId": 501, "subscriptionType": "contact.creation"}, "x"]', "event 1"),
    ],
    ids=[
        "100k-nested",
        "50k-nested-inside",
        "latin-1",
        "utf-16-bom-bytes",
        "utf-16",
        "empty",
        "not-objects",
        "object-not-array",
        "eventId-string",
        "eventId-float",
        "eventId-bool",
        "subscriptionType-int",
        "portalId-string",
        "objectTypeId-int",
        "occurredAt-list",
        "second-event-bad",
    ],
)
def test_signed_malformed_body_is_400_and_nothing_queued(
    receiver: str, dirty: DirtySet, body: bytes, message: str
) -> None:
    r = post(receiver, None, raw=body)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]
    assert dirty.size("contacts") == 0


def test_a_valid_request_after_bad_ones_still_works(receiver: str, dirty: DirtySet) -> None:
    assert post(receiver, None, raw=_nested(100_000)).status_code == 400
    assert post(receiver, [event(1, 501)]).json()["queued"] == 1
    assert dirty.members("contacts") == {"501"}


def test_merge_with_null_new_id_keeps_the_primary_and_never_queues_none(
    receiver: str, dirty: DirtySet
) -> None:
    merge = event(1, 900, "contact.merge", primaryObjectId=900, newObjectId=None, mergedObjectIds=[901])
    r = post(receiver, [merge])
    assert r.status_code == 200 and r.json()["queued"] == 2
    assert dirty.members("contacts") == {"900", "901"}


def test_merge_with_a_new_id_queues_it_and_the_replaced_primary(receiver: str, dirty: DirtySet) -> None:
    merge = event(1, 900, "contact.merge", primaryObjectId=900, newObjectId=950, mergedObjectIds=[901])
    assert post(receiver, [merge]).status_code == 200
    assert dirty.members("contacts") == {"950", "900", "901"}


BAD_IDS: list[Any] = [-1, 0, 2**70, 2**63, "../../etc/passwd", "501", {"id": 501}, [501], 501.0, True, None]


ID_FIELDS = ["objectId", "primaryObjectId", "newObjectId", "mergedObjectIds"]
# a null newObjectId is valid (the primary survived)
CASES = [(f, b) for f in ID_FIELDS for b in BAD_IDS if not (f == "newObjectId" and b is None)]


@pytest.mark.parametrize(("field", "bad"), CASES, ids=[f"{f}={b!r}" for f, b in CASES])
def test_ids_that_are_not_hubspot_ids_are_400_and_nothing_queued(
    receiver: str, dirty: DirtySet, field: str, bad: Any
) -> None:
    fields: dict[str, Any] = {"primaryObjectId": 900, "newObjectId": None, "mergedObjectIds": [901]}
    if field == "mergedObjectIds":
        fields[field] = [901, bad]
    elif field != "objectId":
        fields[field] = bad
    merge = event(2, 900, "contact.merge", **fields)
    if field == "objectId":
        merge["objectId"] = bad
    good = event(1, 501)  # a valid event in the same request is not queued either
    r = post(receiver, [good, merge])
    assert r.status_code == 400, r.text
    assert field in r.json()["error"]
    assert dirty.size("contacts") == 0


def test_the_largest_int64_id_is_accepted(receiver: str, dirty: DirtySet) -> None:
    assert post(receiver, [event(1, 2**63 - 1)]).status_code == 200
    assert dirty.members("contacts") == {str(2**63 - 1)}


def test_a_huge_timestamp_inside_the_window_check_never_overflows(receiver: str) -> None:
    """A 15-digit timestamp is parsed and refused as far in the future, not an error."""
    r = post(receiver, [event(1, 501)], ts=999_999_999_999_999)
    assert r.status_code == 401 and "older than 5 minutes" in r.json()["error"]
