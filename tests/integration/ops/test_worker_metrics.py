"""The workers' counters on ``GET /metrics`` (scraped over HTTP from the web app, counted in Redis by the
sync service through the real adapters and sandboxes): a sync moves the write counters by exactly the
writes it made (the audit says which), a change marked dirty is counted as seen and its write lands in
the change-to-write histogram, a rejected write counts its CRM error code, a retried call its reason;
the dirty-set depth and the API budget are there too."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.integration.web.conftest import serve_in_thread
from worker.state import keys
from worker.state.dirty import Change, Event
from worker.state.store import State
from worker.sync import Disposition, Run, SyncService
from worker.web.app import create_app
from worker.web.settings import WebSettings

pytestmark = pytest.mark.integration
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def scrape(
    ops_env: dict[str, str], redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], Samples]]:
    """``/metrics`` of the web app (uvicorn on loopback), parsed into samples."""
    for k, v in ops_env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("CRMSYNC_WEB_SALESFORCE_ORG_ID", "00D000000000001AAA")  # one receiver: the app starts
    with serve_in_thread(create_app(WebSettings(), redis_client)) as base:

        def get() -> Samples:
            answer = requests.get(base + "/metrics", timeout=30)
            assert answer.status_code == 200, answer.text
            return {
                (s.name, frozenset(s.labels.items())): s.value
                for family in text_string_to_metric_families(answer.text)
                for s in family.samples
            }

        yield get


def moved(after: Samples, before: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def writes_in_audit(state: State, run: Run) -> Counter[tuple[str, str]]:
    """Writes a run made, from its audit entries (one entry per field: a write is a side, record, op)."""
    made = {(e.side, e.record, e.op) for e in state.audit.entries(run=run.id)}
    return Counter((side, op) for side, _, op in made)


def test_a_sync_moves_the_write_counters_by_its_writes_and_times_the_change(
    scrape: Callable[[], Samples],
    sf_box: SalesforceSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, _ = synced_lead()
    before = scrape()
    sf_box.org.update("Lead", lead, {"Status": "Qualified"}, sf_box.org.admin_id)
    state.dirty("salesforce").add("Lead", [lead])  # as a poll marks it
    time.sleep(0.3)
    run = Run.new("test")
    outcome = service.sync_one(f"sf:Lead:{lead}", run)
    after = scrape()

    assert outcome.disposition is Disposition.SYNCED
    made = writes_in_audit(state, run)
    # Qualified implies SQL: HubSpot gets the stage and the status, Salesforce the stage
    assert made == Counter({("hubspot", "update"): 1, ("salesforce", "update"): 1})
    for crm in ("salesforce", "hubspot"):
        for op in ("create", "update", "move_back"):
            assert moved(after, before, "crmsync_writes_total", crm=crm, op=op) == made[(crm, op)]
    assert moved(after, before, "crmsync_changes_seen_total", crm="salesforce") == 1
    for crm in ("salesforce", "hubspot"):  # one observation per side written, at least the wait
        assert moved(after, before, "crmsync_change_to_write_seconds_count", crm=crm) == 1
        assert moved(after, before, "crmsync_change_to_write_seconds_bucket", crm=crm, le="+Inf") == 1
        assert moved(after, before, "crmsync_change_to_write_seconds_bucket", crm=crm, le="0.25") == 0
        assert 0.3 <= moved(after, before, "crmsync_change_to_write_seconds_sum", crm=crm) < 60
    assert state.redis.zscore(keys.dirty_seen("salesforce", "Lead"), lead) is None  # taken
    # the gauges the status document gives: the dirty set still holds the lead (no drain ran)
    assert after[("crmsync_dirty_keys", frozenset({("set", "salesforce:Lead")}))] == 1
    assert after[("crmsync_api_budget_left", frozenset({("crm", "hubspot"), ("window", "daily")}))] > 0

    again = service.sync_one(f"sf:Lead:{lead}", Run.new("test"))  # nothing to write, nothing counted
    assert again.disposition is Disposition.SYNCED and again.writes == 0
    last = scrape()
    assert (
        all(last.get(k, 0.0) == v for k, v in after.items() if k[0].startswith("crmsync_writes"))
        and moved(last, after, "crmsync_change_to_write_seconds_count", crm="hubspot") == 0
    )


def test_a_rejected_write_counts_its_code_and_a_retried_call_its_reason(
    scrape: Callable[[], Samples],
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    state: State,
) -> None:
    org = sf_box.org
    good = org.create("Lead", {"LastName": "G", "Company": "C", "Email": "g@example.com"}, org.admin_id)
    bad = org.create("Lead", {"LastName": "B", "Company": "C", "Email": "jane@example.con"}, org.admin_id)
    before = scrape()
    hs_box.arm_fault(path_prefix="/crm/v3/objects/contacts/batch/read", status=503, count=1)
    run = Run.new("test")
    outcome = service.sync_batch([f"sf:Lead:{good}", f"sf:Lead:{bad}"], run)
    after = scrape()

    assert outcome.keys[f"sf:Lead:{bad}"].disposition is Disposition.DEAD_LETTERED
    assert outcome.keys[f"sf:Lead:{good}"].disposition is Disposition.SYNCED
    code = "VALIDATION_ERROR:INVALID_EMAIL"
    assert moved(after, before, "crmsync_write_rejections_total", crm="hubspot", code=code) == 1
    rejections = [k for k in after if k[0] == "crmsync_write_rejections_total"]
    assert sum(moved(after, before, *k[:1], **dict(k[1])) for k in rejections) == 1
    made = writes_in_audit(state, run)
    assert made[("hubspot", "create")] == 1  # the good lead's contact, and only it
    assert moved(after, before, "crmsync_writes_total", crm="hubspot", op="create") == 1
    assert (
        moved(after, before, "crmsync_writes_total", crm="salesforce", op="update")
        == made[("salesforce", "update")]
    )
    retried = {
        dict(k[1])["reason"]: moved(after, before, *k[:1], **dict(k[1]))
        for k in after
        if k[0] == "crmsync_retries_total" and dict(k[1])["crm"] == "hubspot"
    }
    assert sum(retried.values()) == 1, retried  # the one 503, retried once
    assert {r for r, n in retried.items() if n} == {"INTERNAL_ERROR"}  # the 503 body's category
    # first sight with no dirty mark (a resync-like call): nothing to time
    assert moved(after, before, "crmsync_change_to_write_seconds_count", crm="hubspot") == 0


def test_changes_seen_counts_each_event_once_and_keeps_the_first_mark(
    scrape: Callable[[], Samples], state: State
) -> None:
    before = scrape()
    dirty = state.dirty("hubspot")
    event = Event("event-1", (Change("contacts", "101"), Change("contacts", "102")))
    assert dirty.record([event]) == 2
    first = state.redis.zscore(keys.dirty_seen("hubspot", "contacts"), "101")
    time.sleep(0.01)
    assert dirty.record([event, Event("event-2", (Change("contacts", "101"),))]) == 1  # a redelivery
    assert state.redis.zscore(keys.dirty_seen("hubspot", "contacts"), "101") == first
    after = scrape()
    assert moved(after, before, "crmsync_changes_seen_total", crm="hubspot") == 3


def test_a_person_not_finished_keeps_its_mark_and_is_timed_from_it_when_written(
    scrape: Callable[[], Samples],
    sf_box: SalesforceSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, _ = synced_lead()
    key, seen = f"sf:Lead:{lead}", keys.dirty_seen("salesforce", "Lead")
    sf_box.org.update("Lead", lead, {"Status": "Qualified"}, sf_box.org.admin_id)
    state.dirty("salesforce").add("Lead", [lead])
    mark = state.redis.zscore(seen, lead)
    before = scrape()

    planned = service.sync_one(key, Run.new("test"), dry_run=True)
    assert planned.disposition is Disposition.PLANNED and state.redis.zscore(seen, lead) == mark
    person = state.links.person_of([key])[key]
    [held] = state.locks.try_acquire_groups([[person]])  # another worker holds the person
    assert held is not None
    busy = service.sync_one(key, Run.new("test"))
    assert busy.disposition is Disposition.BUSY and state.redis.zscore(seen, lead) == mark
    state.locks.release_all(held)
    time.sleep(0.3)
    done = service.sync_one(key, Run.new("test"))
    after = scrape()

    assert done.disposition is Disposition.SYNCED and state.redis.zscore(seen, lead) is None
    assert moved(after, before, "crmsync_change_to_write_seconds_count", crm="hubspot") == 1
    assert moved(after, before, "crmsync_change_to_write_seconds_sum", crm="hubspot") >= 0.3
    assert moved(after, before, "crmsync_writes_total", crm="hubspot", op="update") == 1  # not before
