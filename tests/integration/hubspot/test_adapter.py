"""The worker's HubSpot adapter against the sandbox, through hubspot-api-client over HTTP."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from pydantic import SecretStr

from sandbox.hubspot.limits import RateLimitTier
from sandbox.hubspot.seed import seed_contacts
from sandbox.hubspot.server import HubSpotSandbox
from worker.crm.hubspot import Cursor, HubSpotAdapter
from worker.errors import FatalError

from .conftest import make_settings

pytestmark = pytest.mark.integration


def create(hs: Any, **props: str) -> str:
    return str(hs.crm.contacts.basic_api.create({"properties": props}).id)


def read_all(adapter: HubSpotAdapter, cursor: Cursor | None = None) -> tuple[list[str], Cursor | None]:
    seen: list[str] = []
    for page in adapter.changes_since(cursor):
        seen += [r["id"] for r in page.records]
        cursor = page.cursor
    return seen, cursor


@pytest.mark.usefixtures("exact_index")
@pytest.mark.slow
def test_25000_changed_records_are_all_seen_despite_the_10000_ceiling(
    adapter: HubSpotAdapter, sandbox: HubSpotSandbox
) -> None:
    with sandbox.backend.lock:
        ids = seed_contacts(sandbox.portal, 25_000)
    seen, cursor = read_all(adapter)
    assert len(seen) == 25_000
    assert set(seen) == {str(i) for i in ids}
    assert cursor is not None and cursor.object_id == ids[-1]
    # one search per 200 records: the window is split at every page, never paging past 10,000
    assert adapter.transport.stats.searches <= 25_000 // 200 + 2


@pytest.mark.usefixtures("exact_index")
@pytest.mark.slow
def test_25000_records_with_ties_straddling_the_10000th_position_are_all_seen_once(
    adapter: HubSpotAdapter, sandbox: HubSpotSandbox
) -> None:
    """Positions 9,700..10,349 of the window share one millisecond (a bulk write across the ceiling),
    and every other millisecond holds two records, so every page boundary falls inside a tie."""
    store = sandbox.portal.stores["contacts"]
    start = sandbox.portal.clock.now_ms() - 3_600_000
    ids: list[int] = []
    with sandbox.backend.lock:
        for n in range(25_000):
            ms = start + (9_700 // 2 if 9_700 <= n < 10_350 else n // 2 + (325 if n >= 10_350 else 0))
            ids.append(store._insert({"email": f"tie{n}@example.com"}, _actor(), created_ms=ms).id)
    seen, cursor = read_all(adapter)
    assert len(seen) == len(set(seen)) == 25_000
    assert set(seen) == {str(i) for i in ids}
    assert cursor is not None and cursor.object_id == ids[-1]


@pytest.mark.usefixtures("exact_index")
def test_records_sharing_one_millisecond_are_walked_by_id(
    adapter: HubSpotAdapter, sandbox: HubSpotSandbox
) -> None:
    with sandbox.backend.lock:
        store = sandbox.portal.stores["contacts"]
        t = sandbox.portal.clock.now_ms() - 60_000
        ids = [store._insert({"email": f"t{i}@example.com"}, _actor(), created_ms=t).id for i in range(450)]
    seen, _ = read_all(adapter)
    assert sorted(seen) == sorted(str(i) for i in ids)
    assert len(seen) == len(set(seen))


def _actor() -> Any:
    from sandbox.hubspot.models import SYSTEM

    return SYSTEM


@pytest.mark.usefixtures("exact_index")
def test_records_returned_are_raw_v3_json(adapter: HubSpotAdapter, hs: Any) -> None:
    cid = create(hs, email="raw@example.com", lifecyclestage="lead")
    (page,) = list(adapter.changes_since(None))
    rec = page.records[0]
    assert rec["id"] == cid
    assert set(rec) >= {"id", "properties", "createdAt", "updatedAt", "archived"}
    assert rec["properties"]["lifecyclestage"] == "lead"
    assert rec["properties"]["firstname"] is None


@pytest.mark.usefixtures("exact_index")
def test_second_poll_only_returns_newer_changes(adapter: HubSpotAdapter, hs: Any) -> None:
    create(hs, email="one@example.com")
    _, cursor = read_all(adapter)
    time.sleep(0.01)
    two = create(hs, email="two@example.com")
    seen, _ = read_all(adapter, cursor)
    assert seen == [two]


def test_index_lag_is_caught_by_the_lookback(sandbox: HubSpotSandbox, hs: Any) -> None:
    sandbox.configure(index_lag_ms=1500)
    late = create(hs, email="late@example.com")  # visible to search only after 1.5 s
    sandbox.configure(index_lag_ms=0)
    time.sleep(0.01)
    early = create(hs, email="early@example.com")  # modified later, visible at once
    without = HubSpotAdapter(make_settings(sandbox, lookback_s=0.0))
    with_lookback = HubSpotAdapter(make_settings(sandbox, lookback_s=5.0))
    seen, cursor = read_all(without)
    assert seen == [early]
    time.sleep(1.6)
    assert (
        read_all(without, cursor)[0] == []
    )  # the late record is older than the cursor: lost without lookback
    assert late in read_all(with_lookback, cursor)[0]


def test_window_closes_before_now_by_the_lag_margin(sandbox: HubSpotSandbox, hs: Any) -> None:
    adapter = HubSpotAdapter(make_settings(sandbox, index_lag_margin_s=2.0))
    create(hs, email="fresh@example.com")
    seen, cursor = read_all(adapter)
    assert seen == [] and cursor is None


def test_batch_read_chunks_by_100_and_drops_missing(adapter: HubSpotAdapter, sandbox: HubSpotSandbox) -> None:
    with sandbox.backend.lock:
        ids = [str(i) for i in seed_contacts(sandbox.portal, 250)]
    got = adapter.read([*ids, "1"])
    assert set(got) == set(ids)
    assert adapter.transport.stats.calls == 3


def test_batch_update_maps_207_errors_to_inputs(adapter: HubSpotAdapter, hs: Any) -> None:
    cid = create(hs, email="up@example.com")
    res = adapter.update({cid: {"hs_lead_status": "OPEN"}, "77": {"hs_lead_status": "OPEN"}})
    assert res[cid].ok and res[cid].record is not None
    assert res[cid].record["properties"]["hs_lead_status"] == "OPEN"
    err = res["77"].error
    assert err is not None and err.code == "OBJECT_NOT_FOUND"


def test_whole_batch_validation_error_is_isolated_to_the_bad_input(
    adapter: HubSpotAdapter, sandbox: HubSpotSandbox
) -> None:
    with sandbox.backend.lock:
        ids = [str(i) for i in seed_contacts(sandbox.portal, 100)]
    updates = {i: {"hs_lead_status": "CONNECTED"} for i in ids}
    updates[ids[37]] = {"hs_lead_status": "Maybe"}
    res = adapter.update(updates)
    bad = res[ids[37]].error
    assert bad is not None and bad.code == "VALIDATION_ERROR:INVALID_OPTION"
    assert "Maybe was not one of the allowed options" in str(bad)
    assert all(res[i].ok for i in ids if i != ids[37])
    assert adapter.transport.stats.retried == 0  # a 400 is never retried


def test_upsert_by_email_creates_and_updates_in_chunks(adapter: HubSpotAdapter, hs: Any) -> None:
    existing = create(hs, email="known@example.com")
    inputs = {f"p{i}@example.com": {"firstname": f"P{i}"} for i in range(149)}
    inputs["Known@Example.com"] = {"firstname": "Known"}
    res = adapter.upsert_by_email(inputs)
    assert res["known@example.com"].id == existing and res["known@example.com"].created is False
    assert sum(r.created for r in res.values()) == 149
    assert adapter.transport.stats.calls == 2


def test_create_conflict_resolves_to_existing_id(adapter: HubSpotAdapter, hs: Any) -> None:
    existing = create(hs, email="c@example.com")
    res = adapter.create({"h-1": {"email": "c@example.com", "firstname": "Again"}})["h-1"]
    assert res.ok and res.id == existing and res.created is False
    props = hs.crm.contacts.basic_api.get_by_id(existing, properties=["firstname", "crmsync_key"]).properties
    assert props["firstname"] == "Again" and props["crmsync_key"] == "h-1"  # the handle now finds it


def test_backward_lifecycle_is_cleared_then_set_and_read_back(adapter: HubSpotAdapter, hs: Any) -> None:
    a = create(hs, email="a@example.com", lifecyclestage="customer")
    b = create(hs, email="b@example.com", lifecyclestage="opportunity")
    res = adapter.move_lifecycle_backward({a: "lead", b: "marketingqualifiedlead", "999": "lead"})
    assert res[a].ok and res[a].record is not None and res[a].record["properties"]["lifecyclestage"] == "lead"
    assert res[b].ok
    assert res["999"].error is not None and res["999"].error.code == "OBJECT_NOT_FOUND"


def test_429_is_retried_after_the_reset_the_headers_give(sandbox: HubSpotSandbox, hs: Any) -> None:
    sandbox.configure(tier=RateLimitTier(per_ten_seconds=None, daily=None, search_per_second=2))
    adapter = HubSpotAdapter(make_settings(sandbox))
    hs.crm.contacts.search_api.do_search({})
    hs.crm.contacts.search_api.do_search({})
    started = time.monotonic()
    assert read_all(adapter)[0] == []
    assert adapter.transport.stats.throttled == 1
    assert time.monotonic() - started >= 1.0  # waited for Retry-After: 1


def test_5xx_and_dropped_connections_are_retried(
    adapter: HubSpotAdapter, sandbox: HubSpotSandbox, hs: Any
) -> None:
    cid = create(hs, email="f@example.com")
    sandbox.arm_fault(status=502, count=1)
    sandbox.arm_fault(drop=True, count=1)
    assert set(adapter.read([cid])) == {cid}
    assert adapter.transport.stats.retried == 2


def test_bad_private_token_is_fatal_and_not_retried(sandbox: HubSpotSandbox) -> None:
    adapter = HubSpotAdapter(make_settings(sandbox, access_token=SecretStr("pat-na1-bad")))
    with pytest.raises(FatalError) as info:
        adapter.read(["1"])
    assert info.value.code == "INVALID_AUTHENTICATION"
    assert adapter.transport.stats.calls == 1


def test_expired_oauth_token_is_refreshed_once_for_all_threads(
    sandbox: HubSpotSandbox, hs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cid = create(hs, email="o@example.com")
    access, refresh = sandbox.issue_oauth_tokens(ttl_s=60)
    adapter = HubSpotAdapter(
        make_settings(
            sandbox,
            access_token=SecretStr(access),
            refresh_token=SecretStr(refresh),
            client_id="sandbox-client-id",
            client_secret=SecretStr("sandbox-client-secret"),
        )
    )
    assert set(adapter.read([cid])) == {cid}
    sandbox.advance_clock(120_000)
    results: list[set[str]] = []
    threads = [threading.Thread(target=lambda: results.append(set(adapter.read([cid])))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [{cid}] * 4
    assert adapter.transport.stats.refreshes == 1
    new_token = adapter.transport._token
    assert new_token != access
    assert "HubSpot access token refreshed (generation 1" in caplog.text
    for secret in ("sandbox-client-secret", refresh, access, new_token):
        assert secret not in caplog.text


def test_read_of_a_merged_id_is_keyed_by_the_id_asked_for(adapter: HubSpotAdapter, hs: Any) -> None:
    keep = create(hs, email="keep@example.com")
    gone = create(hs, email="gone@example.com")
    hs.crm.contacts.basic_api.merge({"primaryObjectId": keep, "objectIdToMerge": gone})
    got = adapter.read([keep, gone])
    assert set(got) == {keep, gone}
    assert got[gone]["id"] == keep


@pytest.mark.usefixtures("exact_index")
def test_deal_changes_are_read_on_hs_lastmodifieddate(adapter: HubSpotAdapter, hs: Any) -> None:
    deal = hs.crm.deals.basic_api.create({"properties": {"dealname": "D", "dealstage": "closedwon"}})
    pages = list(adapter.changes_since(None, object_type="deals", properties=["dealname", "dealstage"]))
    assert [r["id"] for p in pages for r in p.records] == [deal.id]
    assert pages[0].records[0]["properties"]["dealstage"] == "closedwon"


@pytest.mark.usefixtures("exact_index")
def test_adapter_records_normalise_through_the_core_record_model(adapter: HubSpotAdapter, hs: Any) -> None:
    from worker.records import hubspot_record

    cid = create(hs, email="core@example.com", lifecyclestage="salesqualifiedlead", hs_lead_status="OPEN")
    (page,) = list(adapter.changes_since(None))
    rec = hubspot_record(page.records[0])
    assert rec.id == cid
    assert rec.get("lifecyclestage") == "salesqualifiedlead" and rec.get("hs_lead_status") == "OPEN"
    assert rec.modified_ms is not None and not rec.archived


def test_slow_response_times_out_and_is_retried(sandbox: HubSpotSandbox, hs: Any) -> None:
    cid = create(hs, email="slow@example.com")
    adapter = HubSpotAdapter(make_settings(sandbox, request_timeout_s=0.3))
    sandbox.arm_fault(delay_ms=1000, count=1)
    assert set(adapter.read([cid])) == {cid}
    assert adapter.transport.stats.retried == 1
