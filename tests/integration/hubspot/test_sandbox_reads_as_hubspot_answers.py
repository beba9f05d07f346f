"""Reads as HubSpot answers them, through the real hubspot-api-client (issue 9 items 5, 6, 8, 9, 11, 12)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sandbox.hubspot.models import DEFAULT_APP_ID, DEFAULT_INDEX_LAG_MS
from sandbox.hubspot.server import HubSpotSandbox

pytestmark = pytest.mark.integration


def search_email(hs: Any, email: str) -> list[str]:
    body = {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}]}
    return [r.id for r in hs.crm.contacts.search_api.do_search(body).results]


# ---------------------------------------------------------------- 6. index lag on by default
def test_a_fresh_sandbox_lags_search_behind_writes(hs: Any, sandbox: HubSpotSandbox) -> None:
    assert sandbox.portal.settings.index_lag_ms == DEFAULT_INDEX_LAG_MS > 0
    cid = hs.crm.contacts.basic_api.create({"properties": {"email": "lag@example.com"}}).id
    assert search_email(hs, "lag@example.com") == []  # written, not yet searchable
    assert hs.crm.contacts.basic_api.get_by_id(cid).id == cid  # reads by id are immediate
    sandbox.advance_clock(DEFAULT_INDEX_LAG_MS)
    assert search_email(hs, "lag@example.com") == [cid]


def test_the_lag_is_a_setting_of_the_control_surface_and_of_the_server() -> None:
    with HubSpotSandbox(index_lag_ms=0) as sb:
        hs = sb.client()
        cid = hs.crm.contacts.basic_api.create({"properties": {"email": "now@example.com"}}).id
        assert search_email(hs, "now@example.com") == [cid]
        answer = requests.post(f"{sb.base_url}/_sandbox/settings", json={"index_lag_ms": 60_000})
        assert answer.json()["index_lag_ms"] == 60_000
        hs.crm.contacts.basic_api.create({"properties": {"email": "later@example.com"}})
        assert search_email(hs, "later@example.com") == []


def test_a_jittered_index_shows_writes_out_of_order_but_each_record_s_versions_in_order(
    hs: Any, sandbox: HubSpotSandbox
) -> None:
    sandbox.configure(index_lag_ms=1000, index_lag_jitter_ms=8000)
    api = hs.crm.contacts.basic_api
    ids = [api.create({"properties": {"email": f"j{n}@example.com"}}).id for n in range(20)]
    api.update(ids[0], {"properties": {"firstname": "Second"}})
    sandbox.advance_clock(5000)
    ours = {"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "j*"}
    window = {"filterGroups": [{"filters": [ours]}], "properties": ["firstname"], "limit": 100}
    visible = {r.id for r in hs.crm.contacts.search_api.do_search(window).results}
    assert visible and len(visible) < len(ids)
    assert visible != set(ids[: len(visible)])  # not a prefix of the order written
    sandbox.advance_clock(10_000)
    results = hs.crm.contacts.search_api.do_search(window).results
    found = {r.id: r.properties.get("firstname") for r in results}
    assert set(found) == set(ids) and found[ids[0]] == "Second"
    answer = requests.post(f"{sandbox.base_url}/_sandbox/settings", json={"index_lag_jitter_ms": -1})
    assert answer.status_code == 400 and sandbox.portal.settings.index_lag_jitter_ms == 8000


# ---------------------------------------------------------------- 8. batch results unordered
def test_batch_results_come_back_shuffled_with_their_trace_ids(hs: Any, sandbox: HubSpotSandbox) -> None:
    ids = [
        hs.crm.contacts.basic_api.create({"properties": {"email": f"o{i}@example.com"}}).id for i in range(20)
    ]
    inputs = [
        {"id": i, "properties": {"firstname": f"F{n}"}, "objectWriteTraceId": f"t{n}"}
        for n, i in enumerate(ids)
    ]
    answer = hs.crm.contacts.batch_api.update({"inputs": inputs}, _preload_content=False)
    results = json.loads(answer.data)["results"]
    assert sorted(r["id"] for r in results) == sorted(ids)
    assert [r["id"] for r in results] != ids  # not in input order
    by_trace = {r["objectWriteTraceId"]: r for r in results}
    assert all(by_trace[f"t{n}"]["id"] == i for n, i in enumerate(ids))
    assert all(by_trace[f"t{n}"]["properties"]["firstname"] == f"F{n}" for n in range(20))


def test_the_order_is_deterministic_per_seed(sandbox: HubSpotSandbox, hs: Any) -> None:
    ids = [
        hs.crm.contacts.basic_api.create({"properties": {"email": f"d{i}@example.com"}}).id for i in range(12)
    ]

    def order(seed: int) -> list[str]:
        sandbox.configure(batch_order_seed=seed)
        return [r.id for r in hs.crm.contacts.batch_api.read({"inputs": [{"id": i} for i in ids]}).results]

    assert order(7) == order(7)
    assert order(7) != order(8)


# ---------------------------------------------------------------- 9. v4 association batch read
def test_association_batch_read_reports_ids_without_associations_in_a_207(
    hs: Any, sandbox: HubSpotSandbox
) -> None:
    company = hs.crm.companies.basic_api.create({"properties": {"name": "Acme"}}).id
    linked = hs.crm.contacts.basic_api.create({"properties": {"email": "l@example.com"}}).id
    alone = hs.crm.contacts.basic_api.create({"properties": {"email": "a@example.com"}}).id
    hs.crm.associations.v4.basic_api.create_default("contacts", linked, "companies", company)
    answer = hs.crm.associations.v4.batch_api.get_page(
        "contacts", "companies", {"inputs": [{"id": linked}, {"id": alone}]}, _preload_content=False
    )
    assert answer.status == 207
    doc = json.loads(answer.data)
    assert [r["from"]["id"] for r in doc["results"]] == [linked]
    (error,) = doc["errors"]
    assert error["category"] == "OBJECT_NOT_FOUND"
    assert error["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert error["message"] == f"No company is associated with contact {alone}."
    assert error["context"]["fromObjectId"] == [alone]


# ---------------------------------------------------------------- 5. property history source
def test_values_written_through_the_api_carry_integration_and_the_app_id(hs: Any) -> None:
    cid = hs.crm.contacts.basic_api.create({"properties": {"email": "h@example.com", "firstname": "A"}}).id
    hs.crm.contacts.basic_api.update(cid, {"properties": {"firstname": "B"}})
    rec = hs.crm.contacts.basic_api.get_by_id(cid, properties_with_history=["firstname", "email"])
    history = rec.properties_with_history
    assert [(h.value, h.source_type, h.source_id) for h in history["firstname"]] == [
        ("B", "INTEGRATION", str(DEFAULT_APP_ID)),
        ("A", "INTEGRATION", str(DEFAULT_APP_ID)),
    ]
    assert history["email"][0].source_type == "INTEGRATION"


# ---------------------------------------------------------------- 11. list paging link
def test_list_paging_link_is_absolute_and_keeps_the_query(hs: Any, sandbox: HubSpotSandbox) -> None:
    for i in range(3):
        hs.crm.contacts.basic_api.create({"properties": {"email": f"p{i}@example.com"}})
    page = hs.crm.contacts.basic_api.get_page(limit=2, properties=["email"])
    link = urlsplit(page.paging.next.link)
    assert f"{link.scheme}://{link.netloc}" == sandbox.base_url and link.path == "/crm/v3/objects/contacts"
    query = parse_qs(link.query)
    assert query["limit"] == ["2"] and query["properties"] == ["email"]
    assert query["after"] == [page.paging.next.after]
    follow = requests.get(page.paging.next.link, headers={"Authorization": f"Bearer {sandbox.token}"})
    assert [r["properties"]["email"] for r in follow.json()["results"]] == ["p2@example.com"]


# ---------------------------------------------------------------- 12. association webhooks
class _Collector(BaseHTTPRequestHandler):
    events: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        type(self).events.extend(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_association_changes_fire_for_both_objects_and_on_removal(hs: Any, sandbox: HubSpotSandbox) -> None:
    _Collector.events = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        contact = hs.crm.contacts.basic_api.create({"properties": {"email": "w@example.com"}}).id
        company = hs.crm.companies.basic_api.create({"properties": {"name": "Acme"}}).id
        sandbox.configure_webhooks(
            target_url=f"http://127.0.0.1:{server.server_address[1]}/hook",
            subscriptions=["contact.associationChange", "company.associationChange"],
        )
        hs.crm.associations.v4.basic_api.create_default("contacts", contact, "companies", company)
        hs.crm.associations.v4.basic_api.archive("contacts", contact, "companies", company)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(_Collector.events) < 4:
            time.sleep(0.02)
    finally:
        server.shutdown()
    seen = {(e["subscriptionType"], e["objectId"], e["associationRemoved"]) for e in _Collector.events}
    assert seen == {
        ("contact.associationChange", int(contact), False),
        ("company.associationChange", int(company), False),
        ("contact.associationChange", int(contact), True),
        ("company.associationChange", int(company), True),
    }
