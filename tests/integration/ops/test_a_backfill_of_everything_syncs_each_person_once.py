"""A backfill of everything walks Salesforce leads, Salesforce contacts and HubSpot contacts: a person
linked on both sides is met twice, and is planned (and synced) once — by the first chunk that meets
it; the other key counts as ``seen_in_backfill``. The API calls are the lead-only backfill's plus the
scope's own reads, and the outcome is the same. Enumeration and chunks run in process here (the
Celery tasks are thin wrappers over the same two functions)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from sandbox.hubspot.models import SYSTEM
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from worker.ops import backfill as bf
from worker.state import keys
from worker.state.store import State
from worker.sync import SyncService

pytestmark = pytest.mark.integration
PEOPLE = 12


def run_backfill(service: SyncService, store: bf.BackfillStore, **scope: object) -> tuple[bf.Backfill, int]:
    """Start, enumerate and run every chunk; returns the backfill and the API calls it made."""
    calls = service.sf.calls + service.hs.transport.stats.calls
    b = bf.start(service, bf.parse_spec(scope), store)
    sent: list[int] = []
    bf.enumerate_scope(service, store, b.id, sent.append)
    for n in sent:
        bf.process_chunk(service, store, b.id, n)
    done = store.get(b.id)
    assert done is not None and done.state == "done", done
    return done, service.sf.calls + service.hs.transport.stats.calls - calls


def test_each_person_is_planned_once_and_the_outcome_is_unchanged(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService, state: State
) -> None:
    hs_box.configure(index_lag_ms=0)  # HubSpot search finds the contacts the first backfill made
    store = bf.BackfillStore(state.redis)
    leads = [
        sf_box.org.create(
            "Lead",
            {"LastName": f"P{i}", "Company": "C", "Email": f"p{i}@example.com", "Status": "Working"},
            sf_box.org.admin_id,
        )
        for i in range(PEOPLE)
    ]
    run_backfill(service, store, object="Lead")  # every lead gets its linked HubSpot contact
    service.sf.update("Lead", [(lead, {"Status": "Qualified"}) for lead in leads])

    lead_only, lead_only_calls = run_backfill(service, store, object="Lead", dry_run=True)
    everything, everything_calls = run_backfill(service, store, dry_run=True)
    assert lead_only.by_disposition == {"planned": PEOPLE}
    # met twice (the lead, the contact), planned once; every key counted as done
    assert everything.by_disposition == {"planned": PEOPLE, bf.SEEN: PEOPLE}, json.dumps(everything.to_json())
    assert everything.done == everything.total == 2 * PEOPLE
    rows = list(store.planned_writes(everything.id))
    per_write = Counter((r["person"], r["side"], r["field"]) for r in rows)
    assert len({r["person"] for r in rows}) == PEOPLE and max(per_write.values()) == 1
    assert sorted(json.dumps(r, sort_keys=True) for r in rows) == sorted(
        json.dumps(r, sort_keys=True) for r in store.planned_writes(lead_only.id)
    )
    # the extra calls are the scope's own: counting and walking Contacts and HubSpot contacts
    assert everything_calls - lead_only_calls <= 4, (everything_calls, lead_only_calls)

    applied, _ = run_backfill(service, store)
    assert applied.by_disposition == {"synced": PEOPLE, bf.SEEN: PEOPLE} and applied.errors == 0
    contacts = hs_box.portal.stores["contacts"].records.values()
    assert len(contacts) == PEOPLE
    assert {c.props.get("lifecyclestage") for c in contacts} == {"salesqualifiedlead"}
    written = Counter((e.person, e.side, e.field) for e in state.audit.entries(run=applied.id))
    assert max(written.values()) == 1  # each field of each person written once: what was planned
    assert sorted(written) == sorted(per_write)
    assert not state.redis.exists(keys.backfill_people(applied.id))  # claims dropped at the end
    again, _ = run_backfill(service, store)
    assert (again.writes, again.by_disposition) == (0, {"synced": PEOPLE, bf.SEEN: PEOPLE})


def test_a_dry_run_plans_a_pair_never_linked_once_though_it_stores_no_link(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService, state: State
) -> None:
    hs_box.configure(index_lag_ms=0)
    for i in range(PEOPLE):  # the same people in both CRMs, never synced: matched by email
        sf_box.org.create(
            "Lead", {"LastName": f"P{i}", "Company": "C", "Email": f"p{i}@example.com"}, sf_box.org.admin_id
        )
        hs_box.portal.stores["contacts"].create({"email": f"p{i}@example.com"}, SYSTEM)
    dry, _ = run_backfill(service, bf.BackfillStore(state.redis), dry_run=True)
    assert dry.by_disposition == {"planned": PEOPLE, bf.SEEN: PEOPLE}
    assert state.links.person_of([f"hs:contacts:{c}" for c in hs_box.portal.stores["contacts"].records]) == {}
