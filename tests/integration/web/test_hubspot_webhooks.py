"""The HubSpot webhook receiver over real HTTP, and end to end from the sandbox's delivery."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.hubspot.models import DEFAULT_APP_ID
from sandbox.hubspot.server import HubSpotSandbox
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


@pytest.fixture
def receiver(dirty: DirtySet) -> Iterator[str]:
    settings = HubSpotSettings(app_secret=SecretStr(SECRET), app_id=DEFAULT_APP_ID)
    with serve_in_thread(create_app(settings, dirty)) as base:
        yield base + "/webhooks/hubspot"


def test_good_signature_records_ids(receiver: str, dirty: DirtySet) -> None:
    r = post(receiver, [event(1, 501), event(2, 502, "company.creation")])
    assert r.status_code == 200 and r.json()["queued"] == 2
    assert dirty.members("contacts") == {"501"} and dirty.members("companies") == {"502"}


def test_forged_signature_is_401_and_nothing_queued(receiver: str, dirty: DirtySet) -> None:
    r = post(receiver, [event(1, 501)], secret="not-the-secret")
    assert r.status_code == 401 and "signature" in r.json()["error"]
    assert dirty.size("contacts") == 0


def test_missing_signature_is_401(receiver: str) -> None:
    r = requests.post(receiver, data=b"[]", headers={"Content-Type": "application/json"})
    assert r.status_code == 401


def test_stale_timestamp_is_401(receiver: str, dirty: DirtySet) -> None:
    r = post(receiver, [event(1, 501)], ts=int(time.time() * 1000) - 5 * 60 * 1000 - 1000)
    assert r.status_code == 401 and "older than 5 minutes" in r.json()["error"]
    assert dirty.size("contacts") == 0


def test_tampered_body_is_401(receiver: str) -> None:
    body = json.dumps([event(1, 501)]).encode()
    stamp = str(int(time.time() * 1000))
    headers = {
        "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", receiver, body, stamp),
        "X-HubSpot-Request-Timestamp": stamp,
    }
    r = requests.post(receiver, data=body.replace(b"501", b"666"), headers=headers)
    assert r.status_code == 401


def test_malformed_body_is_400_with_clear_error_and_nothing_queued(receiver: str, dirty: DirtySet) -> None:
    r = post(receiver, None, raw=b'{"eventId": 1}')
    assert r.status_code == 400 and r.json()["error"] == "body must be a JSON array of events"
    r = post(receiver, None, raw=b'[{"eventId": "x", "objectId": 1, "subscriptionType": "contact.creation"}]')
    assert r.status_code == 400 and "eventId" in r.json()["error"]
    r = post(receiver, None, raw=b"not json")
    assert r.status_code == 400
    assert dirty.size("contacts") == 0


def test_replayed_event_is_recorded_once(receiver: str, dirty: DirtySet) -> None:
    first = event(7, 501, propertyName="lifecyclestage", propertyValue="lead")
    assert post(receiver, [first]).json()["queued"] == 1
    again = post(receiver, [{**first, "attemptNumber": 1}]).json()  # HubSpot's retry of the same event
    assert again["queued"] == 0 and again["duplicates"] == 1
    dirty.pop("contacts")
    assert post(receiver, [first]).json()["queued"] == 0
    assert dirty.size("contacts") == 0


def test_a_shared_event_id_does_not_hide_a_different_change(receiver: str, dirty: DirtySet) -> None:
    """HubSpot does not guarantee eventId unique: other object / portal / property / time are new events."""
    base = event(100, 501, propertyName="lifecyclestage", propertyValue="lead")
    variants = [
        base,
        {**base, "objectId": 502},
        {**base, "objectId": 503, "portalId": 222},
        {**base, "objectId": 504, "propertyName": "hs_lead_status"},
        {**base, "objectId": 505, "occurredAt": base["occurredAt"] + 1},
    ]
    r = post(receiver, variants).json()
    assert r["queued"] == 5 and r["duplicates"] == 0
    assert dirty.members("contacts") == {"501", "502", "503", "504", "505"}


def test_generic_format_events_are_mapped_by_object_type_id(receiver: str, dirty: DirtySet) -> None:
    events = [
        event(1, 601, "object.propertyChange", objectTypeId="0-1", propertyName="lifecyclestage"),
        event(2, 602, "object.creation", objectTypeId="0-2"),
        event(3, 603, "object.deletion", objectTypeId="0-3"),
        event(4, 604, "object.creation", objectTypeId="0-5"),  # tickets: not followed
        event(5, 605, "ticket.creation"),
    ]
    r = post(receiver, events).json()
    assert r["queued"] == 3 and r["unknown"] == 2
    assert r["unknown_types"] == {"object.creation objectTypeId=0-5": 1, "ticket.creation": 1}
    assert dirty.members("contacts") == {"601"}
    assert dirty.members("companies") == {"602"} and dirty.members("deals") == {"603"}


def test_unknown_event_types_are_logged(receiver: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="worker.web.hubspot")
    post(receiver, [event(5, 605, "ticket.creation")])
    assert "ticket.creation" in caplog.text


def test_merge_events_queue_the_survivor_and_every_merged_id(receiver: str, dirty: DirtySet) -> None:
    legacy = event(1, 700, "contact.merge", primaryObjectId=700, newObjectId=710, mergedObjectIds=[701, 702])
    generic = event(2, 800, "object.merge", objectTypeId="0-1", primaryObjectId=800, mergedObjectIds=[801])
    r = post(receiver, [legacy, generic]).json()
    assert r["queued"] == 6  # 700 was replaced by the new id 710: the sync must hear of both
    assert dirty.members("contacts") == {"710", "700", "701", "702", "800", "801"}


def test_event_markers_are_real_keys_with_the_configured_ttl(redis_client: Any) -> None:
    from worker.state.dirty import Change, Event

    dirty = DirtySet(redis_client, event_ttl_s=123)
    ev = Event("k1", (Change("contacts", "1"), Change("deals", "2")))
    assert dirty.record([ev, Event("k2", (Change("contacts", "3"),))]) == 3
    assert dirty.record([ev]) == 0
    assert 120 <= redis_client.ttl("crmsync:event:hubspot:k1") <= 123
    assert dirty.members("contacts") == {"1", "3"} and dirty.members("deals") == {"2"}
    assert redis_client.exists("crmsync:event:hubspot:") == 0


def test_own_writes_are_not_queued(receiver: str, dirty: DirtySet) -> None:
    own = event(9, 777, changeSource="INTEGRATION", sourceId=str(DEFAULT_APP_ID))
    r = post(receiver, [own, event(10, 778)]).json()
    assert r["ignored_own"] == 1 and r["queued"] == 1
    assert dirty.members("contacts") == {"778"}


def test_sandbox_delivers_signed_batches_end_to_end(receiver: str, dirty: DirtySet) -> None:
    with HubSpotSandbox() as sb:
        sb.configure_webhooks(target_url=receiver, client_secret=SECRET, batch_window_s=0.05)
        hs = sb.client()
        ui = sb.portal.stores["contacts"]
        from sandbox.hubspot.models import SYSTEM

        with sb.backend.lock:
            human = ui.create({"email": "human@example.com", "lifecyclestage": "lead"}, SYSTEM)
        mine = hs.crm.contacts.basic_api.create({"properties": {"email": "mine@example.com"}})
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and str(human.id) not in dirty.members("contacts"):
            time.sleep(0.05)
        time.sleep(0.2)
        assert dirty.members("contacts") == {str(human.id)}  # the API write was ours: not queued
        assert mine.id not in dirty.members("contacts")
        assert all(d.status == 200 for d in sb.dispatcher.deliveries)


def test_sandbox_retries_failed_deliveries_with_increasing_attempt_number() -> None:
    seen: list[tuple[int, bool]] = []

    async def flaky(request: Request) -> JSONResponse:
        body = await request.body()
        url = str(request.url)
        ts = request.headers["x-hubspot-request-timestamp"]
        ok = sign_v3(SECRET, "POST", url, body, ts) == request.headers["x-hubspot-signature-v3"]
        events = json.loads(body)
        seen.append((events[0]["attemptNumber"], ok))
        return JSONResponse({}, 503 if len(seen) < 3 else 200)

    app = Starlette(routes=[Route("/hook", flaky, methods=["POST"])])
    with serve_in_thread(app) as base, HubSpotSandbox() as sb:
        sb.configure_webhooks(target_url=base + "/hook", client_secret=SECRET, retry_base_s=0.05)
        with sb.backend.lock:
            from sandbox.hubspot.models import SYSTEM

            sb.portal.stores["contacts"].create({"email": "r@example.com"}, SYSTEM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(seen) < 3:
            time.sleep(0.05)
    assert [a for a, _ in seen[:3]] == [0, 1, 2]
    assert all(ok for _, ok in seen)


def test_sandbox_does_not_retry_a_401() -> None:
    calls: list[int] = []

    async def refuse(request: Request) -> JSONResponse:
        calls.append(1)
        return JSONResponse({}, 401)

    app = Starlette(routes=[Route("/hook", refuse, methods=["POST"])])
    with serve_in_thread(app) as base, HubSpotSandbox() as sb:
        sb.configure_webhooks(target_url=base + "/hook", retry_base_s=0.01)
        with sb.backend.lock:
            from sandbox.hubspot.models import SYSTEM

            sb.portal.stores["contacts"].create({"email": "n@example.com"}, SYSTEM)
        time.sleep(0.5)
    assert len(calls) == 1


def test_webhooks_configured_through_the_real_webhooks_api(receiver: str, dirty: DirtySet) -> None:
    from hubspot import HubSpot

    from sandbox.hubspot.models import DEFAULT_DEVELOPER_KEY, SYSTEM

    with HubSpotSandbox() as sb:
        dev = HubSpot(api_key=DEFAULT_DEVELOPER_KEY, host=sb.base_url)
        settings = dev.webhooks.settings_api.configure(
            DEFAULT_APP_ID, {"targetUrl": receiver, "throttling": {"maxConcurrentRequests": 5}}
        )
        assert settings.target_url == receiver and settings.throttling.max_concurrent_requests == 5
        sub = dev.webhooks.subscriptions_api.create(
            DEFAULT_APP_ID,
            {"eventType": "contact.propertyChange", "propertyName": "lifecyclestage", "active": True},
        )
        assert [s.id for s in dev.webhooks.subscriptions_api.get_all(DEFAULT_APP_ID).results] == [sub.id]
        store = sb.portal.stores["contacts"]
        with sb.backend.lock:
            a = store.create({"email": "a@example.com", "firstname": "A"}, SYSTEM)
            b = store.create({"email": "b@example.com"}, SYSTEM)
            store.update(b, {"lifecyclestage": "lead"}, SYSTEM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not dirty.members("contacts"):
            time.sleep(0.05)
        time.sleep(0.2)
        assert dirty.members("contacts") == {str(b.id)}, sb.dispatcher.deliveries  # only the subscribed one
        assert str(a.id) not in dirty.members("contacts")
        with pytest.raises(Exception) as info:
            HubSpot(api_key="wrong", host=sb.base_url).webhooks.settings_api.get_all(DEFAULT_APP_ID)
        assert info.value.status == 401  # type: ignore[attr-defined]


def test_merge_and_deletion_events_mark_the_right_ids(receiver: str, dirty: DirtySet) -> None:
    from sandbox.hubspot.models import SYSTEM

    with HubSpotSandbox() as sb:
        store = sb.portal.stores["contacts"]
        with sb.backend.lock:
            keep = store.create({"email": "keep@example.com"}, SYSTEM)
            gone = store.create({"email": "gone@example.com"}, SYSTEM)
            deal = sb.portal.stores["deals"].create({"dealname": "D"}, SYSTEM)
        sb.configure_webhooks(
            target_url=receiver, subscriptions=["contact.merge", "contact.deletion", "deal.deletion"]
        )
        with sb.backend.lock:
            store.merge(str(keep.id), str(gone.id), SYSTEM)
            store.archive(str(keep.id), SYSTEM)
            sb.portal.stores["deals"].archive(str(deal.id), SYSTEM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not dirty.members("deals"):
            time.sleep(0.05)
        time.sleep(0.2)
        # the survivor (merge and deletion) and the merged-away id (merge)
        assert dirty.members("contacts") == {str(keep.id), str(gone.id)}
        assert dirty.members("deals") == {str(deal.id)}
        assert len(sb.dispatcher.deliveries) >= 1
